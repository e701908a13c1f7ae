/** What n8n's finished run of an instant trigger's execution means for the messages it carried. */
import type { IRun } from 'n8n-workflow';

export type Outcome = 'success' | 'failed' | 'timeout';

/** Success, or not (the messages are then emitted again). */
export function outcomeOf(run: IRun | undefined, waitingCountsAsSuccess: boolean): Outcome {
	if (!run) return 'failed';
	if (run.data?.resultData?.error) return 'failed';
	if (run.status === 'success') return 'success';
	if (run.status === 'waiting') return waitingCountsAsSuccess ? 'success' : 'failed';
	return 'failed';
}

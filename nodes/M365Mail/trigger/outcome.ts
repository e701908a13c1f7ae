/** What n8n's finished run of an instant trigger's execution means for the messages it carried. */
import type { IExecuteResponsePromiseData, IRun } from 'n8n-workflow';

export type Outcome = 'success' | 'failed' | 'timeout';

/** How long n8n's own report of a run may lag the worker's before the worker's is taken. */
export const WORKER_REPORT_GRACE_MS = 15_000;

/** Success, or not (the messages are then emitted again). */
export function outcomeOf(run: IRun | undefined, waitingCountsAsSuccess: boolean): Outcome {
	if (!run) return 'failed';
	if (run.data?.resultData?.error) return 'failed';
	if (run.status === 'success') return 'success';
	if (run.status === 'waiting') return waitingCountsAsSuccess ? 'success' : 'failed';
	return 'failed';
}

/**
 * What a queue-mode worker's report says, if it says it plainly. On a worker's "job finished"
 * message main answers the execution's response promise: `{}` after a run that did not fail (it
 * succeeded, or waits), `{ statusCode: 500 }` after one that failed. Anything else (a Respond to
 * Webhook node's answer) says nothing about the outcome.
 */
function workerSays(
	response: IExecuteResponsePromiseData,
	waitingCountsAsSuccess: boolean,
): Outcome | undefined {
	if (typeof response !== 'object' || response === null) return undefined;
	const keys = Object.keys(response);
	// `{}` is a success or a run that waits: taken only where a waiting run counts as a success.
	if (keys.length === 0) return waitingCountsAsSuccess ? 'success' : undefined;
	const failed = response as { statusCode?: unknown; body?: { message?: unknown } };
	return failed.statusCode === 500 && failed.body?.message === 'Workflow execution failed'
		? 'failed'
		: undefined;
}

/**
 * Waits for n8n's word on one execution: the finished run (`done`), or, when that never comes,
 * the worker's report (`response`), or Max Wait for a Run.
 *
 * Why the worker's report: in queue mode main learns that a run ended from Bull's
 * `job.finished()`, which never settles when the worker completes the job before main asks (n8n
 * keeps no completed jobs, so Bull's check finds none and waits for an event that has passed). A
 * fast run and a main busy for a moment meet it. Main still gets the worker's own "job finished"
 * message and answers the response promise with it; that answer is taken when the finished run has
 * not come `graceMs` after it. Without queue mode n8n answers the response promise with `{}` for
 * every run just before it hands over the finished run, so there the finished run always decides.
 */
export async function awaitOutcome(
	done: Promise<IRun>,
	response: Promise<IExecuteResponsePromiseData>,
	options: { maxWaitMs: number; waitingCountsAsSuccess: boolean; graceMs?: number },
): Promise<{ outcome: Outcome; run?: IRun; from: 'n8n' | 'worker' | 'none' }> {
	const timers: NodeJS.Timeout[] = [];
	let settled = false;
	// A timer asked for once the wait is over is never started.
	const after = <T>(ms: number, value: T) =>
		new Promise<T>((resolve) => {
			if (!settled) timers.push(setTimeout(() => resolve(value), ms));
		});
	const fromN8n = done.then(
		(run) => ({
			outcome: outcomeOf(run, options.waitingCountsAsSuccess),
			run,
			from: 'n8n' as const,
		}),
		() => ({ outcome: 'failed' as const, from: 'n8n' as const }),
	);
	const fromWorker = response
		.then(
			(answer) => workerSays(answer, options.waitingCountsAsSuccess),
			() => undefined,
		)
		.then((outcome) =>
			outcome
				? after(options.graceMs ?? WORKER_REPORT_GRACE_MS, { outcome, from: 'worker' as const })
				: new Promise<never>(() => {}),
		);
	const timeout = after(options.maxWaitMs, { outcome: 'timeout' as const, from: 'none' as const });
	try {
		return await Promise.race([fromN8n, fromWorker, timeout]);
	} finally {
		settled = true;
		for (const timer of timers) clearTimeout(timer);
	}
}

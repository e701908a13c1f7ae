/**
 * Counting delivery in real n8n: which messages each workflow's executions emitted and processed, and
 * how many of those expected were lost or came more than once. Shared by the single-process and the
 * queue-mode end-to-end tests.
 */
import assert from 'node:assert/strict';

import { count } from '../harness/count';
import { runData, type N8nInstance, type TimedLine } from './n8n';

type Json = Record<string, unknown>;

export { count };

/** The numbers of lost and duplicated messages. */
export function tally(expected: string[], seen: string[]): { lost: number; duplicated: number } {
	const { lost, duplicated } = count(expected, seen);
	return { lost: lost.length, duplicated: duplicated.length };
}

export const percentile = (values: number[], p: number) =>
	[...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))];

export const names = (prefix: string, n: number, from = 0) =>
	Array.from({ length: n }, (_, i) => `${prefix} ${String(from + i).padStart(3, '0')}`);

/** A "Process" Code node that fails the first attempt of the messages whose subject contains `part`. */
export function failsFirstAttempt(part: string): Json {
	return codeNode(
		`if ($json.subject.includes(${JSON.stringify(part)}) && $json.delivery.attempt === 1) {\n  throw new Error('downstream failure');\n}\nreturn { json: $json };`,
	);
}

/** n8n's Code node, named "Process", one run per item. */
export function codeNode(jsCode: string): Json {
	return {
		id: 'code-node',
		name: 'Process',
		type: 'n8n-nodes-base.code',
		typeVersion: 2,
		position: [250, 0],
		parameters: { mode: 'runOnceForEachItem', jsCode },
	};
}

/**
 * A "Process" Code node whose runs end spread out: each waits 300 ms plus 300 ms times the number that
 * ends its subject ("killed 012": 3.9 s), so a burst of 40 finishes over 12 s and a kill meets it
 * mid-way, with runs that succeeded seconds before.
 */
export const staggeredCodeNode = (): Json =>
	codeNode(
		'const n = Number(/(\\d+)$/.exec($json.subject)?.[1] ?? 0);\nawait new Promise((r) => setTimeout(r, 300 + 300 * n));\nreturn { json: $json };',
	);

/** How long a kill test waits after the first 5 successes: longer than `checkRanTwice`'s window. */
const KILL_AFTER_MS = 6000;

export interface Run {
	executionId: string;
	/** The message's id, as the trigger emitted it. */
	id: string;
	subject: string;
	status: string;
	startedAt: number;
	stoppedAt: number;
}

/**
 * Counting helpers for the n8n instance `current()` returns (it may be restarted between calls).
 * `list` reads a workflow's executions (newest first), by default through n8n's list endpoint.
 */
export function countingFor(
	current: () => N8nInstance,
	list?: (workflowId: string) => Promise<Json[]>,
) {
	const executionsOf = async (workflowId: string) =>
		list ? await list(workflowId) : await current().executions(workflowId);

	/** Subjects a node output in the workflow's executions (status filter optional), in order. */
	async function processed(workflowId: string, node: string, status?: string): Promise<string[]> {
		const list = (await executionsOf(workflowId))
			.filter((e) => e.mode === 'trigger' && e.stoppedAt && (!status || e.status === status))
			.reverse();
		const result: string[] = [];
		for (const execution of list) {
			const data = execution.data as { resultData: { runData: Record<string, unknown> } };
			if (!data.resultData.runData[node]) continue;
			result.push(...runData(execution, node).map((i) => String(i.json.subject)));
		}
		return result;
	}

	async function waitForAll(
		workflowId: string,
		node: string,
		expected: string[],
		timeoutMs: number,
	): Promise<string[]> {
		const n8n = current();
		return await n8n
			.waitFor(
				`${expected.length} messages through ${node}`,
				async () => {
					const seen = await processed(workflowId, node, 'success');
					return count(expected, seen).lost.length === 0 ? seen : undefined;
				},
				timeoutMs,
			)
			.catch(async (error: Error) => {
				const executions = await executionsOf(workflowId);
				const seen = await processed(workflowId, node, 'success');
				const { lost, duplicated } = count(expected, seen);
				// Per execution: what it carried at the node, so a lost emit shows apart from a late one.
				const list = executions.map((e) => {
					const data = e.data as { resultData?: { error?: unknown; runData?: Json } };
					const items = data?.resultData?.runData?.[node]
						? runData(e, node).map((i) => String(i.json.subject))
						: [];
					return {
						id: e.id,
						status: e.status,
						mode: e.mode,
						startedAt: e.startedAt,
						stoppedAt: e.stoppedAt,
						items: items.length ? `${items.length}: ${items[0]} .. ${items.at(-1)}` : 0,
						error: JSON.stringify(data?.resultData?.error ?? '').slice(0, 300),
					};
				});
				throw new Error(
					`${error.message.slice(0, 200)}\nat ${new Date().toISOString()}: lost ${lost.length} (${lost.slice(0, 5).join(', ')}), duplicated ${duplicated.length}\nexecutions: ${JSON.stringify(list)}`,
				);
			});
	}

	/** One more poll (it applies what the last emit owes), then the counts: 0 lost, 0 duplicated. */
	async function assertNoneLostOrDuplicated(
		workflowId: string,
		expected: string[],
	): Promise<string[]> {
		await current().pollNow(workflowId);
		await new Promise((r) => setTimeout(r, 1500));
		const seen = await processed(workflowId, 'New Mail');
		assert.deepEqual(tally(expected, seen), { lost: 0, duplicated: 0 });
		return seen;
	}

	/** Per subject the trigger emitted: its execution, status and start time. */
	async function instantRuns(workflowId: string): Promise<Run[]> {
		const result: Run[] = [];
		for (const execution of await executionsOf(workflowId)) {
			if (execution.mode !== 'trigger' || !execution.stoppedAt) continue;
			const data = execution.data as { resultData: { runData: Record<string, unknown> } };
			if (!data.resultData.runData['New Mail']) continue;
			for (const item of runData(execution, 'New Mail')) {
				result.push({
					executionId: String(execution.id),
					id: String(item.json.id),
					subject: String(item.json.subject),
					status: String(execution.status),
					startedAt: Date.parse(String(execution.startedAt)),
					stoppedAt: Date.parse(String(execution.stoppedAt)),
				});
			}
		}
		return result;
	}

	/** Waits until every expected subject has a successful run; returns the successful runs. */
	async function succeededRuns(
		workflowId: string,
		expected: string[],
		timeoutMs: number,
	): Promise<Run[]> {
		return await current().waitFor(
			`${expected.length} successful runs`,
			async () => {
				const done = (await instantRuns(workflowId)).filter((r) => r.status === 'success');
				return tally(
					expected,
					done.map((r) => r.subject),
				).lost === 0
					? done
					: undefined;
			},
			timeoutMs,
		);
	}

	/**
	 * Kills n8n (SIGKILL) in the middle of a burst: `KILL_AFTER_MS` after the workflow's first 5
	 * successful runs, while runs go on ending (those that succeeded seconds before the kill must be
	 * read by then). Returns when it was killed, by the test's clock.
	 */
	async function killMidBurst(workflowId: string): Promise<number> {
		await current().waitFor('the first successful runs', async () =>
			(await instantRuns(workflowId)).filter((r) => r.status === 'success').length >= 5
				? true
				: undefined,
		);
		await new Promise((r) => setTimeout(r, KILL_AFTER_MS));
		const killedAt = Date.now();
		await current().kill();
		return killedAt;
	}

	/**
	 * An instant trigger's kill test, counted: a burst of 40 delivered, n8n killed mid-burst
	 * (`killMidBurst`), 10 more delivered while it is down, n8n started again. Waits until every
	 * message's run succeeded and every message is read, then longer than "Emit Again After a Failed
	 * Run" (0.1 minutes in these workflows), so that anything wrongly emitted again shows. Asserts none
	 * lost and checks each message that ran twice (`checkRanTwice`); prints what it saw. Returns the
	 * subjects delivered.
	 */
	async function killMidBurstAndCount(
		workflowId: string,
		options: {
			label: string;
			/** Subject prefixes of the burst and of the mail that comes while n8n is down. */
			prefixes: [string, string];
			deliver: (subjects: string[]) => Promise<unknown>;
			/** Resolves once every message in the folder is read. */
			allRead: () => Promise<unknown>;
			runsTimeoutMs?: number;
			workers?: boolean;
		},
	): Promise<{ expected: string[] }> {
		const burst = names(options.prefixes[0], 40);
		await options.deliver(burst);
		const killedAt = await killMidBurst(workflowId);
		const more = names(options.prefixes[1], 10);
		await options.deliver(more);
		const n8n = current();
		await n8n.start();
		await n8n.login();
		const expected = [...burst, ...more];
		await succeededRuns(workflowId, expected, options.runsTimeoutMs ?? 120_000);
		await options.allRead();
		await new Promise((r) => setTimeout(r, 9000));
		const successes = (await instantRuns(workflowId)).filter((r) => r.status === 'success');
		const { lost, duplicated } = count(
			expected,
			successes.map((r) => r.subject),
		);
		const before = successes.filter((r) => r.stoppedAt <= killedAt).length;
		console.log(
			`${options.label}: ${before} runs had succeeded before the kill; lost ${lost.length}, ran twice ${duplicated.length}`,
		);
		assert.deepEqual(lost, []);
		const lines = await checkRanTwice(n8n, successes, duplicated, killedAt, {
			workers: options.workers,
		});
		for (const line of lines) console.log(`  ${line}`);
		return { expected };
	}

	return {
		processed,
		waitForAll,
		assertNoneLostOrDuplicated,
		instantRuns,
		succeededRuns,
		killMidBurst,
		killMidBurstAndCount,
	};
}

/**
 * What the instant trigger logged (at debug level) of each message's first run, by the test's clock:
 * when n8n reported that the run succeeded, and when the action after it (mark as read) was done.
 */
function afterRunTimes(lines: TimedLine[]): Map<string, { reported?: number; acted?: number }> {
	const times = new Map<string, { reported?: number; acted?: number }>();
	for (const { at, text } of lines) {
		const reported = /n8n reported the run of (\S+) succeeded/.exec(text)?.[1];
		const acted = /the action after the run of (\S+) is done/.exec(text)?.[1];
		const id = reported ?? acted;
		if (!id) continue;
		const seen = times.get(id) ?? {};
		if (reported && seen.reported === undefined) seen.reported = at;
		if (acted && seen.acted === undefined) seen.acted = at;
		times.set(id, seen);
	}
	return times;
}

/**
 * n8n was killed at `killedAt` while runs went on, and started again. Each message that ran twice
 * must have one run emitted after the start (the trigger emitting it again, still unread), and the
 * other one of these two:
 * - a run that ended before the kill, whose success n8n had not reported to the trigger by then, or
 *   reported less than `windowMs` before it, and which was not marked read before the kill. How long
 *   n8n takes to report a run (it saves the execution first) is n8n's and grows with the machine's
 *   load: it is printed, not bounded;
 * - an execution n8n had accepted before the kill and ran only at its next start (its recovery of
 *   enqueued executions), which reports to no trigger: nothing marks its message read.
 * In queue mode (`workers`: only main was killed) the second kind is instead a run on a worker that
 * ended after the kill: its execution was made before the kill, and the main process that would
 * have heard of its success and marked the message read was down, or started again without the
 * trigger's memory of it.
 * Returns a line per message run twice.
 */
export async function checkRanTwice(
	n8n: N8nInstance,
	successes: Run[],
	twice: string[],
	killedAt: number,
	{ windowMs = 5000, workers = false }: { windowMs?: number; workers?: boolean } = {},
): Promise<string[]> {
	const times = afterRunTimes(n8n.timed);
	// The lines are read at all (n8n at debug level, the trigger's wording as the patterns expect).
	assert.ok(
		[...times.values()].some((t) => t.reported !== undefined && t.acted !== undefined),
		"no run's success and action were found in n8n's log: is n8n at debug level, and do the patterns match the trigger's lines?",
	);
	const lines: string[] = [];
	for (const subject of twice) {
		const runs = successes
			.filter((r) => r.subject === subject)
			.sort((a, b) => a.stoppedAt - b.stoppedAt);
		const created = new Map<string, number>();
		for (const run of runs) {
			const execution = await n8n.api('GET', `/executions/${run.executionId}`);
			created.set(run.executionId, Date.parse(String(execution.createdAt)));
		}
		const fresh = runs.filter((r) => (created.get(r.executionId) ?? 0) > killedAt);
		const [first] = runs.filter((r) => !fresh.includes(r));
		const what = runs
			.map(
				(r) =>
					`execution ${r.executionId} created ${killedAt - (created.get(r.executionId) ?? 0)} ms, ended ${killedAt - r.stoppedAt} ms before the kill`,
			)
			.join('; ');
		assert.ok(
			runs.length === 2 && fresh.length === 1 && first,
			`${subject} ran ${runs.length} times, ${fresh.length} of them emitted after the start: ${what}`,
		);
		if (first.stoppedAt > killedAt && workers) {
			// Made before the kill (as \`first\` is), ended on a worker after it: main did not hear of it.
			lines.push(
				`${subject}: its first run ended on a worker ${first.stoppedAt - killedAt} ms after main was killed (${what})`,
			);
			continue;
		}
		if (first.stoppedAt > killedAt) {
			// Accepted before the kill and run at the start: started after the kill, by n8n alone.
			assert.ok(first.startedAt > killedAt, `${subject}: ${what}`);
			lines.push(
				`${subject}: n8n had accepted its execution before the kill and ran it at the start (${what})`,
			);
			continue;
		}
		const { reported, acted } = times.get(first.id) ?? {};
		const line = `${subject}: its first run ended ${killedAt - first.stoppedAt} ms before the kill; ${
			reported !== undefined && reported <= killedAt
				? `n8n reported it ${killedAt - reported} ms before the kill`
				: 'n8n had not reported it by the kill'
		}`;
		assert.ok(
			acted === undefined || acted > killedAt,
			`${line}, yet it ran twice though it was marked read ${killedAt - (acted ?? 0)} ms before the kill`,
		);
		if (reported !== undefined && reported <= killedAt)
			assert.ok(killedAt - reported < windowMs, `${line}, and was not marked read by the kill`);
		lines.push(line);
	}
	return lines;
}

/**
 * How the instant trigger reads a run's outcome (trigger/outcome.ts): n8n's finished run decides;
 * in queue mode, when main never reports the end of a run (Bull's `job.finished()` race), the
 * worker's report through the response promise decides after a grace period. The same in real n8n
 * queue mode: test/e2e/queue.test.ts ("main never learns that a run ended").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { IExecuteResponsePromiseData, IRun } from 'n8n-workflow';

import { awaitOutcome } from '../../nodes/M365Mail/trigger/outcome';

function deferred<T>() {
	let resolve!: (value: T) => void;
	let reject!: (error: Error) => void;
	const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
	return { promise, resolve, reject };
}

const run = (status: string, error?: unknown) =>
	({ status, data: { resultData: { runData: {}, error } } }) as unknown as IRun;
/** What main answers the response promise with on a worker's "job finished" message. */
const WORKER_SUCCESS = {};
const WORKER_FAILURE = { body: { message: 'Workflow execution failed' }, statusCode: 500 };

function race(options: { waitingCountsAsSuccess?: boolean } = {}) {
	const done = deferred<IRun>();
	const response = deferred<IExecuteResponsePromiseData>();
	const started = Date.now();
	const said = awaitOutcome(done.promise, response.promise, {
		maxWaitMs: 1500,
		graceMs: 300,
		waitingCountsAsSuccess: options.waitingCountsAsSuccess ?? true,
	}).then((result) => ({ ...result, afterMs: Date.now() - started }));
	return { done, response, said };
}

describe('awaitOutcome: the finished run, else the worker’s report after a grace, else Max Wait', () => {
	it('without queue mode n8n answers `{}` for every run, then the finished run: a failed run is failed', async () => {
		const { done, response, said } = race();
		response.resolve({});
		done.resolve(run('error', new Error('the Code node threw')));
		const result = await said;
		assert.deepEqual([result.outcome, result.from], ['failed', 'n8n']);
		assert.ok(result.afterMs < 200, `decided at once (${result.afterMs} ms)`);
	});

	it('the finished run decides when it comes within the grace after the worker’s report', async () => {
		const { done, response, said } = race();
		response.resolve(WORKER_SUCCESS);
		setTimeout(() => done.resolve(run('waiting')), 100);
		assert.deepEqual(await said.then((r) => [r.outcome, r.from]), ['success', 'n8n']);
	});

	it('main never reports the end: the worker’s success is taken after the grace', async () => {
		const { response, said } = race();
		response.resolve(WORKER_SUCCESS);
		const result = await said;
		assert.deepEqual([result.outcome, result.from], ['success', 'worker']);
		assert.ok(
			result.afterMs >= 290 && result.afterMs < 1400,
			`after the grace (${result.afterMs} ms)`,
		);
	});

	it('main never reports the end: the worker’s failure is taken after the grace', async () => {
		const { response, said } = race();
		response.resolve(WORKER_FAILURE);
		assert.deepEqual(await said.then((r) => [r.outcome, r.from]), ['failed', 'worker']);
	});

	it('`{}` cannot tell a success from a waiting run: where waiting does not count, Max Wait decides', async () => {
		const { response, said } = race({ waitingCountsAsSuccess: false });
		response.resolve(WORKER_SUCCESS);
		const result = await said;
		assert.deepEqual([result.outcome, result.from], ['timeout', 'none']);
		assert.ok(result.afterMs >= 1490, `at Max Wait (${result.afterMs} ms)`);
	});

	it('an answer that is not a worker’s report (a Respond to Webhook node’s), or a cancelled run’s rejection, says nothing', async () => {
		for (const settle of [
			(r: ReturnType<typeof race>) => r.response.resolve({ body: 'ok', statusCode: 200 }),
			(r: ReturnType<typeof race>) => r.response.reject(new Error('cancelled')),
		]) {
			const r = race();
			settle(r);
			assert.deepEqual(await r.said.then((x) => [x.outcome, x.from]), ['timeout', 'none']);
		}
	});

	it('a done promise that rejects is a failed run', async () => {
		const { done, said } = race();
		done.reject(new Error('the execution could not start'));
		assert.deepEqual(await said.then((r) => [r.outcome, r.from]), ['failed', 'n8n']);
	});
});

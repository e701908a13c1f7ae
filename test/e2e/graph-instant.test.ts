/**
 * The instant trigger over Microsoft Graph change notifications, in real n8n 2.41.1: n8n's webhook
 * URL is https (a TLS front on n8n, as a reverse proxy would be), the Graph emulator validates it,
 * sends batched notifications and lifecycle events to it. Counted: 0 lost, 0 duplicated.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';

import {
	GRAPH_SCOPES,
	graphDeliver,
	graphFolder,
	graphInject,
	graphLifecycle,
	graphList,
	graphMuteNotifications,
	graphRaw,
	graphRecreateFolder,
	graphSubscriptions,
} from '../harness/graph';
import { delegatedCredential, signIn, stackInfo } from '../harness/stack';
import {
	staggeredCodeNode,
	codeNode,
	countingFor,
	failsFirstAttempt,
	names,
	percentile,
	tally,
} from './counting';
import { n8nBehindHttpsFront, type HttpsFront } from './https-front';
import { freshUserFolder, N8nInstance, runData, triggerWorkflowNode } from './n8n';

type Json = Record<string, unknown>;

const MAILBOX = 'alice@example.test';
const GRAPH_CREDENTIAL = { id: 'M365GraphNotice1', name: 'Alice (Graph, notifications)' };
const graphRef = { m365MailOAuth2Api: GRAPH_CREDENTIAL };

let n8n: N8nInstance;
let front: HttpsFront;
const { instantRuns, succeededRuns, killMidBurstAndCount } = countingFor(() => n8n);

const graphNoticeNode = (folder: string, parameters: Json = {}): Json => ({
	...triggerWorkflowNode(
		'New Mail',
		folder,
		graphRef,
		{ notice: 'graph', afterEmit: 'markRead', maxMessages: 50, ...parameters },
		'm365MailInstantTrigger',
	),
	webhookId: randomUUID(),
});
const connections = { 'New Mail': { main: [[{ node: 'Process', type: 'main', index: 0 }]] } };

/** The subscriptions to n8n's webhook URLs. */
async function subscriptionsFor(prefix: string) {
	return (await graphSubscriptions()).subscriptions.filter((s) =>
		s.notificationUrl.startsWith(prefix),
	);
}

/** Workflows a test activated: deactivated after it, even when it failed (no subscriptions left over). */
const active = new Set<string>();
async function activate(id: string) {
	active.add(id);
	await n8n.api('POST', `/workflows/${id}/activate`);
}
async function deactivate(id: string) {
	await n8n.api('POST', `/workflows/${id}/deactivate`);
	active.delete(id);
}

/** Waits until one subscription to n8n is left, another than this one, and returns it. */
async function replacementOf(id: string, timeoutMs: number) {
	const [found] = await n8n.waitFor(
		'a new subscription',
		async () => {
			const subs = await subscriptionsFor(front.url);
			return subs.length === 1 && subs[0].id !== id ? subs : undefined;
		},
		timeoutMs,
	);
	return found;
}

const unreadIn = async (folder: string) =>
	(await graphList(MAILBOX, folder)).filter((m) => !m.isRead).map((m) => m.subject);

/** Waits until every message in the folder is read (marked after its run succeeded). */
const allRead = async (folder: string, timeoutMs?: number) =>
	await n8n.waitFor(
		'every message read',
		async () => ((await unreadIn(folder)).length === 0 ? true : undefined),
		timeoutMs,
	);

describe('instant trigger over Microsoft Graph change notifications, in real n8n 2.41.1', () => {
	const stack = stackInfo();

	before(async () => {
		const userFolder = freshUserFolder('e2e-graph-notice');
		// Debug: the kill test reads when the trigger learned of each run's success and marked it read.
		({ n8n, front } = await n8nBehindHttpsFront(userFolder, stack.caCertPath, 'debug'));
		await n8n.start();
		await n8n.login();
		await n8n.importCredentials([
			{
				...GRAPH_CREDENTIAL,
				type: 'm365MailOAuth2Api',
				data: delegatedCredential(await signIn(MAILBOX, GRAPH_SCOPES), { access: 'graph' }),
			},
		]);
	});

	afterEach(async () => {
		for (const id of active) await deactivate(id).catch(() => undefined);
	});

	after(async () => {
		await n8n?.stop();
		await front?.close();
	});

	it('activation subscribes (Graph validates the https webhook URL); 30 messages at one per second each start an execution within seconds, read after it succeeded; a burst of 200: 0 lost, 0 duplicated; deactivation deletes the subscription', async () => {
		const folder = `Inbox/graph-notice-${Date.now()}`;
		await graphFolder(MAILBOX, folder);
		const before = (await graphSubscriptions()).counts.validated ?? 0;
		const id = await n8n.createWorkflow(
			'Graph notice: latency and burst',
			[graphNoticeNode(folder), codeNode('return { json: $json };')],
			connections,
		);
		await activate(id);
		const subs = await subscriptionsFor(front.url);
		assert.equal(subs.length, 1, 'one subscription, to the https webhook URL');
		assert.equal(subs[0].lifecycleNotificationUrl, subs[0].notificationUrl);
		assert.ok(((await graphSubscriptions()).counts.validated ?? 0) > before);

		const delivered = new Map<string, number>();
		const steady = names('graph steady', 30);
		for (const subject of steady) {
			delivered.set(subject, Date.now());
			await graphDeliver(MAILBOX, { subject }, folder);
			await new Promise((r) => setTimeout(r, 1000));
		}
		const done = await succeededRuns(id, steady, 60_000);
		const latencies = done.map((r) => r.startedAt - delivered.get(r.subject)!);
		console.log(
			`Graph notice latency over ${latencies.length} messages (delivery -> execution start): p50 ${percentile(latencies, 0.5)} ms, p90 ${percentile(latencies, 0.9)} ms, max ${Math.max(...latencies)} ms`,
		);
		// The safety check runs every 5 minutes: only notifications explain starts within seconds.
		assert.ok(percentile(latencies, 0.9) < 10_000, `p90 ${percentile(latencies, 0.9)} ms`);

		const burst = names('graph burst', 200);
		for (const subject of burst) await graphDeliver(MAILBOX, { subject }, folder);
		await succeededRuns(id, [...steady, ...burst], 120_000);
		await new Promise((r) => setTimeout(r, 3000));
		const seen = (await instantRuns(id)).map((r) => r.subject);
		assert.deepEqual(tally([...steady, ...burst], seen), { lost: 0, duplicated: 0 });
		// Marked read after the runs succeeded (n8n's done promise comes a moment after the row).
		await allRead(folder, 30_000);

		await deactivate(id);
		assert.deepEqual(await subscriptionsFor(front.url), [], 'deactivation deletes it');
	});

	it('lifecycle events: missed notifications are caught up, reauthorizationRequired renews, subscriptionRemoved subscribes again; forged notifications are refused; a failed run is emitted again; a failed mark-as-read is tried again, not the run: 0 lost, 0 duplicated', async () => {
		const folder = `Inbox/graph-lifecycle-${Date.now()}`;
		await graphFolder(MAILBOX, folder);
		const id = await n8n.createWorkflow(
			'Graph notice: lifecycle',
			[
				graphNoticeNode(folder, { options: { redeliverAfterMinutes: 0.05, maxAttempts: 3 } }),
				failsFirstAttempt('lifecycle fails once'),
			],
			connections,
		);
		await activate(id);
		const [first] = await subscriptionsFor(front.url);
		assert.ok(first);
		const expected: string[] = [];
		const arrive = async (subjects: string[]) => {
			expected.push(...subjects);
			for (const subject of subjects) await graphDeliver(MAILBOX, { subject }, folder);
		};
		// After a pause (past a delay for failed runs): 0 lost and 0 duplicated among the successful
		// runs so far, and how many runs (any status) one subject had.
		const settledRunsOf = async (subject: string, pauseMs: number) => {
			await new Promise((r) => setTimeout(r, pauseMs));
			const runs = await instantRuns(id);
			const successes = runs.filter((r) => r.status === 'success').map((r) => r.subject);
			assert.deepEqual(tally(expected, successes), { lost: 0, duplicated: 0 });
			return runs.filter((r) => r.subject === subject).length;
		};

		// 1. Graph drops notifications, then says so with `missed`: the delta query catches up.
		await graphMuteNotifications(3);
		await arrive(names('lifecycle missed', 3));
		await new Promise((r) => setTimeout(r, 3000));
		assert.equal(
			(await instantRuns(id)).length,
			0,
			'no notice, no run (the safety check is minutes away)',
		);
		assert.equal(await graphLifecycle('missed', first.id), 1);
		await succeededRuns(id, expected, 30_000);

		// 2. reauthorizationRequired: the trigger renews the subscription.
		const renewedBefore = (await graphSubscriptions()).counts.renewed ?? 0;
		await graphLifecycle('reauthorizationRequired', first.id);
		await n8n.waitFor(
			'the renewal',
			async () => ((await graphSubscriptions()).counts.renewed ?? 0) > renewedBefore || undefined,
			15_000,
		);

		// 3. subscriptionRemoved: Graph deleted it; the trigger subscribes again and mail flows.
		await graphLifecycle('subscriptionRemoved', first.id);
		const second = await replacementOf(first.id, 20_000);
		assert.ok(second);
		await arrive(names('lifecycle after removal', 3));
		await succeededRuns(id, expected, 30_000);

		// 4. A forged notification (right subscription id, wrong clientState) is refused: no run.
		const webhookUrl = second.notificationUrl;
		const forged = await fetch(webhookUrl, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({
				value: [{ subscriptionId: second.id, clientState: 'guessed', changeType: 'created' }],
			}),
		}).catch((error: Error) => error);
		assert.ok(!(forged instanceof Error) && forged.status === 202, String(forged));
		assert.ok(
			await n8n.waitFor(
				'the log line',
				async () => n8n.output().includes('refused 1 notification(s)') || undefined,
				5_000,
			),
			'n8n logs the refused notification',
		);

		// 5. A failed run: emitted again after the delay, processed successfully once, then read.
		await arrive(['lifecycle fails once']);
		await succeededRuns(id, expected, 60_000);
		assert.equal(await settledRunsOf('lifecycle fails once', 3000), 2);
		await allRead(folder, 30_000);

		// 6. A run that succeeded whose action fails (Graph answers 500 to marking it read, twice): the
		// action is tried again, not the run. One run, then read; nothing emitted again after the delay.
		await graphInject(500, 2, undefined, '^PATCH .*/messages/');
		await arrive(['lifecycle read fails twice']);
		await succeededRuns(id, expected, 30_000);
		await allRead(folder, 30_000);
		// 5 s: past the 3 s delay for failed runs.
		assert.equal(await settledRunsOf('lifecycle read fails twice', 5000), 1);
		assert.match(
			n8n.output(),
			/succeeded but the action failed: [^\n]*the action is tried again in 1 s/,
		);

		await deactivate(id);
		assert.deepEqual(await subscriptionsFor(front.url), []);
	});

	it('the watched folder deleted and created again: the catch-up that finds it (here after a `missed` event) moves the subscription to the new folder, whose mail then starts executions within seconds: 0 lost, 0 duplicated', async () => {
		const folder = `Inbox/graph-recreated-${Date.now()}`;
		await graphFolder(MAILBOX, folder);
		const id = await n8n.createWorkflow(
			'Graph notice: folder created again',
			[graphNoticeNode(folder), codeNode('return { json: $json };')],
			connections,
		);
		await activate(id);
		const [first] = await subscriptionsFor(front.url);
		assert.ok(first);
		await graphDeliver(MAILBOX, { subject: 'recreated before' }, folder);
		await succeededRuns(id, ['recreated before'], 30_000);
		await graphRecreateFolder(MAILBOX, folder);
		// The old folder's subscription hears nothing more; a `missed` event makes the trigger look.
		await graphLifecycle('missed', first.id);
		const moved = await replacementOf(first.id, 30_000);
		assert.notEqual(moved.folderId, first.folderId, 'subscribed to the new folder');
		const after = names('recreated after', 5);
		const delivered = Date.now();
		for (const subject of after) await graphDeliver(MAILBOX, { subject }, folder);
		const runs = await succeededRuns(id, ['recreated before', ...after], 60_000);
		const latest = Math.max(...runs.map((r) => r.startedAt - delivered));
		// The catch-up without notice comes every 5 minutes: only notifications explain seconds.
		assert.ok(latest < 20_000, `the new folder's mail ran ${latest} ms after its delivery`);
		await new Promise((r) => setTimeout(r, 2000));
		assert.deepEqual(
			tally(
				['recreated before', ...after],
				(await instantRuns(id)).map((r) => r.subject),
			),
			{ lost: 0, duplicated: 0 },
		);
		await deactivate(id);
		assert.deepEqual(await subscriptionsFor(front.url), [], 'deactivation deletes it');
	});

	it("a run during which the watched folder is deleted, created again and its message copied into it (a new id): when the run succeeds, the copy is marked read (found by its Message-ID in the folder the path leads to now, the trigger's folder list read again) and it does not run: 0 lost, 0 duplicated", async () => {
		const folder = `Inbox/graph-copied-${Date.now()}`;
		await graphFolder(MAILBOX, folder);
		const id = await n8n.createWorkflow(
			'Graph notice: copied into a folder created again',
			[graphNoticeNode(folder), staggeredCodeNode()],
			connections,
		);
		await activate(id);
		const [first] = await subscriptionsFor(front.url);
		assert.ok(first);
		// Its run takes 30.3 s: the folder list the trigger read at the activation is older than 30 s
		// when it ends, and is read again because the message is gone from the folder it knew.
		const subject = 'copied 100';
		const original = await graphDeliver(MAILBOX, { subject }, folder);
		// n8n's public API lists running executions only when asked for them.
		await n8n.waitFor(
			'its run started',
			async () => {
				const list = await n8n.api('GET', `/executions?workflowId=${id}&status=running&limit=10`);
				return (list.data as Json[]).length ? true : undefined;
			},
			30_000,
		);
		const [listed] = await graphList(MAILBOX, folder);
		const raw = await graphRaw(MAILBOX, original);
		await graphRecreateFolder(MAILBOX, folder);
		const copy = await graphDeliver(MAILBOX, raw, folder, listed.receivedDateTime);
		assert.notEqual(copy, original);
		await n8n.waitFor(
			'the copy marked read',
			async () => ((await unreadIn(folder)).length ? undefined : true),
			60_000,
		);
		// A catch-up then finds the folder created again: the copy is not run as new mail.
		await graphLifecycle('missed', first.id);
		await replacementOf(first.id, 30_000);
		await new Promise((r) => setTimeout(r, 3000));
		const runs = await instantRuns(id);
		assert.deepEqual(
			tally(
				[subject],
				runs.map((r) => r.subject),
			),
			{ lost: 0, duplicated: 0 },
		);
		assert.deepEqual(
			runs.map((r) => r.status),
			['success'],
		);
	});

	it('n8n killed (SIGKILL) mid-burst and started again: the stored subscription is found again (not made twice); none lost, all read; a message runs twice only if its first run succeeded just before the kill and was not yet marked read, or n8n had accepted its execution before the kill and ran it at the start; a subscription Graph dropped while n8n was down is made again at the start', async () => {
		const folder = `Inbox/graph-kill-${Date.now()}`;
		await graphFolder(MAILBOX, folder);
		const id = await n8n.createWorkflow(
			'Graph notice: n8n killed mid-burst',
			[
				graphNoticeNode(folder, { options: { redeliverAfterMinutes: 0.1, maxAttempts: 5 } }),
				staggeredCodeNode(),
			],
			connections,
		);
		await activate(id);
		const [subscription] = await subscriptionsFor(front.url);
		assert.ok(subscription);
		const created = (await graphSubscriptions()).counts.created ?? 0;
		// Killed once some runs succeeded while others are still running. Graph's notifications of the
		// mail delivered while n8n is down find it down: nothing but the catch-up brings them.
		const { expected } = await killMidBurstAndCount(id, {
			label: 'Graph notice, n8n killed mid-burst',
			prefixes: ['graph killed', 'graph while down'],
			deliver: async (subjects) => {
				for (const subject of subjects) await graphDeliver(MAILBOX, { subject }, folder);
			},
			allRead: () => allRead(folder),
		});
		const after = await subscriptionsFor(front.url);
		assert.deepEqual(
			after.map((s) => s.id),
			[subscription.id],
			'the same subscription, still the only one',
		);
		assert.equal((await graphSubscriptions()).counts.created ?? 0, created, 'none made anew');
		// And it still brings mail at once.
		await graphDeliver(MAILBOX, { subject: 'graph after restart' }, folder);
		await succeededRuns(id, [...expected, 'graph after restart'], 30_000);

		// Graph drops the subscription while n8n is down (its lifecycle notification finds no one):
		// at the start n8n's webhook methods find it gone and subscribe again; mail comes at once.
		await n8n.kill();
		await graphLifecycle('subscriptionRemoved', subscription.id);
		await graphDeliver(MAILBOX, { subject: 'graph while gone' }, folder);
		await n8n.start();
		await n8n.login();
		await replacementOf(subscription.id, 30_000);
		await graphDeliver(MAILBOX, { subject: 'graph after resubscribe' }, folder);
		const all = [...expected, 'graph after restart', 'graph while gone', 'graph after resubscribe'];
		await succeededRuns(id, all, 30_000);
		assert.equal(
			tally(
				all,
				(await instantRuns(id)).filter((r) => r.status === 'success').map((r) => r.subject),
			).lost,
			0,
		);
		await deactivate(id);
		assert.deepEqual(await subscriptionsFor(front.url), []);
	});

	it('"Fetch Test Event" listens at n8n\'s test URL: it subscribes there, the first notification brings the newest matching message as the sample, and the test subscription is deleted after', async () => {
		const folder = `Inbox/graph-sample-${Date.now()}`;
		await graphFolder(MAILBOX, folder);
		const id = await n8n.createWorkflow(
			'Graph notice: test event',
			[graphNoticeNode(folder), codeNode('return { json: $json };')],
			connections,
		);
		const workflow = (await n8n.rest('GET', `/rest/workflows/${id}`)) as Json;
		const started = (await n8n.rest('POST', `/rest/workflows/${id}/run`, {
			workflowData: workflow,
			triggerToStartFrom: { name: 'New Mail' },
		})) as Json;
		assert.equal(started.waitingForWebhook, true, JSON.stringify(started));
		const [test] = await n8n.waitFor(
			'the test subscription',
			async () => {
				const subs = (await subscriptionsFor(front.url)).filter((s) =>
					s.notificationUrl.includes('/webhook-test/'),
				);
				return subs.length ? subs : undefined;
			},
			15_000,
		);
		assert.ok(test);
		await graphDeliver(MAILBOX, { subject: 'the sample' }, folder);
		const execution = await n8n.waitFor(
			'the test execution',
			async () => {
				const list = (await n8n.api('GET', `/executions?workflowId=${id}&includeData=true`)) as {
					data: Json[];
				};
				return list.data.find((e) => e.mode === 'manual' && e.stoppedAt);
			},
			30_000,
		);
		assert.equal(execution.status, 'success');
		assert.deepEqual(
			runData(execution, 'Process').map((i) => i.json.subject),
			['the sample'],
		);
		await n8n.waitFor(
			'the test subscription deleted',
			async () => (await subscriptionsFor(front.url)).every((s) => s.id !== test.id) || undefined,
			15_000,
		);
		// Nothing changed in the mailbox: the sample is still unread.
		assert.deepEqual(await unreadIn(folder), ['the sample']);
	});
});

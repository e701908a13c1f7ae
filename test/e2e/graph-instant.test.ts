/**
 * The instant trigger over Microsoft Graph change notifications, in real n8n 2.41.1: n8n's webhook
 * URL is https (a TLS front on n8n, as a reverse proxy would be), the Graph emulator validates it,
 * sends batched notifications and lifecycle events to it. Counted: 0 lost, 0 duplicated.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
	GRAPH_SCOPES,
	graphDeliver,
	graphFolder,
	graphLifecycle,
	graphList,
	graphMuteNotifications,
	graphSubscriptions,
} from '../harness/graph';
import { delegatedCredential, signIn, stackInfo } from '../harness/stack';
import { codeNode, countingFor, names, percentile, tally } from './counting';
import {
	e2eInstalled,
	freePort,
	installPackage,
	N8nInstance,
	ROOT,
	triggerWorkflowNode,
} from './n8n';

type Json = Record<string, unknown>;

const MAILBOX = 'alice@example.test';
const GRAPH_CREDENTIAL = { id: 'M365GraphNotice1', name: 'Alice (Graph, notifications)' };
const graphRef = { m365MailOAuth2Api: GRAPH_CREDENTIAL };

/** An https front for n8n (what a reverse proxy with a certificate is in production). */
async function httpsFront(target: () => number, cert: string, key: string) {
	const server: Server = createServer({ cert, key }, (req, res) => {
		const upstream = httpRequest(
			{
				host: '127.0.0.1',
				port: target(),
				method: req.method,
				path: req.url,
				headers: req.headers,
			},
			(answer) => {
				res.writeHead(answer.statusCode ?? 502, answer.headers);
				answer.pipe(res);
			},
		);
		upstream.on('error', () => {
			res.writeHead(502);
			res.end();
		});
		req.pipe(upstream);
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	return {
		url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
		close: async () => {
			server.closeAllConnections();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}

let n8n: N8nInstance;
let front: Awaited<ReturnType<typeof httpsFront>>;
const { instantRuns, succeededRuns } = countingFor(() => n8n);

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

async function subscriptionsFor(prefix: string) {
	return (await graphSubscriptions()).subscriptions.filter((s) =>
		s.notificationUrl.startsWith(prefix),
	);
}

const unreadIn = async (folder: string) =>
	(await graphList(MAILBOX, folder)).filter((m) => !m.isRead).map((m) => m.subject);

describe('instant trigger over Microsoft Graph change notifications, in real n8n 2.41.1', () => {
	const stack = stackInfo();

	before(async () => {
		if (!e2eInstalled()) throw new Error('n8n is not installed: run scripts/e2e-setup.sh');
		mkdirSync(join(ROOT, '.tmp'), { recursive: true });
		const userFolder = mkdtempSync(join(ROOT, '.tmp/e2e-graph-notice-'));
		installPackage(userFolder);
		const certs = dirname(stack.caCertPath);
		const port = await freePort();
		front = await httpsFront(
			() => port,
			readFileSync(join(certs, 'server.crt'), 'utf8'),
			readFileSync(join(certs, 'server.key'), 'utf8'),
		);
		n8n = new N8nInstance({
			userFolder,
			port,
			caCertPath: stack.caCertPath,
			logFile: join(userFolder, 'n8n.log'),
			env: { WEBHOOK_URL: `${front.url}/` },
		});
		await n8n.start();
		await n8n.login();
		const file = join(userFolder, 'credentials.json');
		writeFileSync(
			file,
			JSON.stringify([
				{
					...GRAPH_CREDENTIAL,
					type: 'm365MailOAuth2Api',
					data: delegatedCredential(await signIn(MAILBOX, GRAPH_SCOPES), { access: 'graph' }),
				},
			]),
		);
		await n8n.cli(['import:credentials', `--input=${file}`]);
	});

	after(async () => {
		await n8n?.stop();
		await front?.close();
	});

	it('activation subscribes (Graph validates the https webhook URL); 30 messages at one per second each start an execution within seconds, read after it succeeded; a burst of 100: 0 lost, 0 duplicated; deactivation deletes the subscription', async () => {
		const folder = `Inbox/graph-notice-${Date.now()}`;
		await graphFolder(MAILBOX, folder);
		const before = (await graphSubscriptions()).counts.validated ?? 0;
		const id = await n8n.createWorkflow(
			'Graph notice: latency and burst',
			[graphNoticeNode(folder), codeNode('return { json: $json };')],
			connections,
		);
		await n8n.api('POST', `/workflows/${id}/activate`);
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

		const burst = names('graph burst', 100);
		for (const subject of burst) await graphDeliver(MAILBOX, { subject }, folder);
		await succeededRuns(id, [...steady, ...burst], 120_000);
		await new Promise((r) => setTimeout(r, 3000));
		const seen = (await instantRuns(id)).map((r) => r.subject);
		assert.deepEqual(tally([...steady, ...burst], seen), { lost: 0, duplicated: 0 });
		assert.deepEqual(await unreadIn(folder), []);

		await n8n.api('POST', `/workflows/${id}/deactivate`);
		assert.deepEqual(await subscriptionsFor(front.url), [], 'deactivation deletes it');
	});

	it('lifecycle events: missed notifications are caught up, reauthorizationRequired renews, subscriptionRemoved subscribes again; forged notifications are refused; a failed run is emitted again: 0 lost, 0 duplicated', async () => {
		const folder = `Inbox/graph-lifecycle-${Date.now()}`;
		await graphFolder(MAILBOX, folder);
		const id = await n8n.createWorkflow(
			'Graph notice: lifecycle',
			[
				graphNoticeNode(folder, { options: { redeliverAfterMinutes: 0.05, maxAttempts: 3 } }),
				codeNode(
					"if ($json.subject === 'lifecycle fails once' && $json.delivery.attempt === 1) throw new Error('downstream down'); return { json: $json };",
				),
			],
			connections,
		);
		await n8n.api('POST', `/workflows/${id}/activate`);
		const [first] = await subscriptionsFor(front.url);
		assert.ok(first);
		const expected: string[] = [];
		const arrive = async (subjects: string[]) => {
			expected.push(...subjects);
			for (const subject of subjects) await graphDeliver(MAILBOX, { subject }, folder);
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
		const [second] = await n8n.waitFor(
			'a new subscription',
			async () => {
				const subs = await subscriptionsFor(front.url);
				return subs.length === 1 && subs[0].id !== first.id ? subs : undefined;
			},
			20_000,
		);
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
		await new Promise((r) => setTimeout(r, 3000));
		const runs = await instantRuns(id);
		const successes = runs.filter((r) => r.status === 'success').map((r) => r.subject);
		assert.deepEqual(tally(expected, successes), { lost: 0, duplicated: 0 });
		assert.equal(runs.filter((r) => r.subject === 'lifecycle fails once').length, 2);
		assert.deepEqual(await unreadIn(folder), []);

		await n8n.api('POST', `/workflows/${id}/deactivate`);
		assert.deepEqual(await subscriptionsFor(front.url), []);
	});
});

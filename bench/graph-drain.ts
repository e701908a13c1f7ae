/**
 * Graph benchmark: requests and wall time to drain a backlog from the Graph emulator with our delta
 * trigger, requests per idle poll, and the messages a receivedDateTime-window poller (the way n8n's
 * own Outlook trigger polls) misses when a rule moves mail in and when a burst shares one second.
 * Usage: npm run bench:graph -- [--messages 5000]
 */
/* eslint-disable no-console */
import { resolve } from 'node:path';

import type { IDataObject } from 'n8n-workflow';
import MailComposer from 'nodemailer/lib/mail-composer';

import { startStack } from '../test/stack/index';
import { numberOption, runTrustingStack } from './run';

const MESSAGES = numberOption('messages', 5000);
const ALICE = 'alice@example.test';

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

async function mail(subject: string): Promise<Buffer> {
	return await new MailComposer({
		from: 'sender@example.test',
		to: ALICE,
		subject,
		text: `${subject} `.repeat(40),
	})
		.compile()
		.build();
}

async function main(): Promise<void> {
	const root = resolve(__dirname, '..');
	const stack = await startStack({ dir: resolve(root, '.tmp/bench-stack') });
	process.env.M365_STACK = JSON.stringify(stack.info);
	const { CredentialStore, pollTrigger, triggerNode } = await import('../test/harness/n8n');
	const { delegatedCredential, signIn } = await import('../test/harness/stack');
	const { GRAPH_SCOPES } = await import('../test/harness/graph');
	const graph = stack.graph;
	try {
		const store = new CredentialStore();
		store.set('alice', delegatedCredential(await signIn(ALICE, GRAPH_SCOPES), { access: 'graph' }));
		const rows: string[] = [];

		// 1. Drain a backlog with our trigger (startFrom existing, 500 per poll), twice: received one a
		//    second (a busy mailbox: 3,600 messages an hour), and all within a few seconds, the burst
		//    a test server delivers at (Graph writes received times to the second).
		let requests = 0;
		let bytes = 0;
		let started = 0;
		const drain = async (label: string, spread: boolean): Promise<string> => {
			const path = `Inbox/bench-${spread ? 'spread' : 'burst'}-${Date.now()}`;
			graph.createFolderPath(ALICE, path);
			const first = Date.now() - MESSAGES * 1000;
			for (let i = 0; i < MESSAGES; i++) {
				const at = spread ? new Date(first + i * 1000).toISOString() : undefined;
				await graph.deliver(ALICE, await mail(`backlog ${i}`), path, at);
			}
			const state: IDataObject = {};
			const node = triggerNode(path, { startFrom: 'existing', maxMessages: 500 }, 'alice', 'graph');
			requests = graph.requests;
			bytes = graph.bytes;
			const before = new Map(graph.counts);
			started = Date.now();
			let drained = 0;
			let polls = 0;
			for (;;) {
				const items = await pollTrigger(node, store, state);
				polls++;
				if (!items.length) break;
				drained += items.length;
			}
			const drainMs = Date.now() - started;
			const drainRequests = graph.requests - requests;
			const drainBytes = graph.bytes - bytes;
			const counted = (key: string) => (graph.counts.get(key) ?? 0) - (before.get(key) ?? 0);
			// Graph's throttling counts each request of a JSON batch, and not the batch itself.
			let batched = 0;
			for (const key of graph.counts.keys())
				if (key.startsWith('batched ')) batched += counted(key);
			const throttleCount = drainRequests - counted('POST /$batch') + batched;
			requests = graph.requests;
			await pollTrigger(node, store, state);
			const idleRequests = graph.requests - requests;
			rows.push(
				`| ${label} | ${drained} / ${MESSAGES} | ${polls} | ${drainRequests} | ${throttleCount} | ${counted('bodies')} | ${mb(drainBytes)} | ${drainMs} ms | ${idleRequests} |`,
			);
			return path;
		};
		const folder = await drain('our delta trigger, received one a second', true);
		await drain('our delta trigger, received within seconds', false);

		// 2. The same backlog with a receivedDateTime window: GET messages ge lastTime, pages of 100.
		const folderId = graph.createFolderPath(ALICE, folder);
		const token = await stack.oauth.mint({
			upn: ALICE,
			audience: 'https://graph.microsoft.com',
			scp: 'Mail.ReadWrite',
		});
		const windowPoll = async (since: string): Promise<string[]> => {
			const seen: string[] = [];
			let url: string | undefined =
				`${graph.url}/v1.0/me/mailFolders/${folderId}/messages?$filter=${encodeURIComponent(`receivedDateTime ge ${since}`)}&$top=100&$select=id,subject,receivedDateTime`;
			while (url) {
				const page = (await (
					await fetch(url, { headers: { authorization: `Bearer ${token}` } })
				).json()) as {
					value: Array<{ subject: string }>;
					'@odata.nextLink'?: string;
				};
				seen.push(...page.value.map((m) => m.subject));
				url = page['@odata.nextLink'];
			}
			return seen;
		};
		requests = graph.requests;
		bytes = graph.bytes;
		started = Date.now();
		const windowSeen = await windowPoll('2000-01-01T00:00:00Z');
		const windowMs = Date.now() - started;
		const windowRequests = graph.requests - requests;
		const windowBytes = graph.bytes - bytes;
		requests = graph.requests;
		await windowPoll(new Date().toISOString());
		const windowIdle = graph.requests - requests;
		rows.push(
			`| receivedDateTime window (ids and subjects only) | ${new Set(windowSeen).size} / ${MESSAGES} | 1 | ${windowRequests} | ${windowRequests} | 0 | ${mb(windowBytes)} | ${windowMs} ms | ${windowIdle} |`,
		);

		// 3. Misses: 10 messages moved in by a rule (received an hour ago), and a burst of 10 in one
		//    second, 5 of them delivered after a poll that ran within that second.
		const misses = async (poller: 'ours' | 'window') => {
			const f = `Inbox/miss-${poller}-${Date.now()}`;
			const fid = graph.createFolderPath(ALICE, f);
			const s: IDataObject = {};
			const n = triggerNode(f, {}, 'alice', 'graph');
			const seen = new Set<string>();
			const second = new Date(Math.floor(Date.now() / 1000) * 1000);
			const secondIso = second.toISOString().replace('.000Z', 'Z');
			const poll = async (since: Date) => {
				if (poller === 'ours') {
					for (const i of await pollTrigger(n, store, s)) seen.add(String(i.json.subject));
					return;
				}
				const url = `${graph.url}/v1.0/me/mailFolders/${fid}/messages?$filter=${encodeURIComponent(`receivedDateTime ge ${since.toISOString()}`)}&$top=100`;
				const page = (await (
					await fetch(url, { headers: { authorization: `Bearer ${token}` } })
				).json()) as {
					value: Array<{ subject: string }>;
				};
				for (const m of page.value) seen.add(m.subject);
			};
			await poll(new Date(0)); // baseline
			let last = new Date(second.getTime() - 60_000);
			for (let i = 0; i < 10; i++) {
				const id = await graph.deliver(
					ALICE,
					await mail(`rule ${i}`),
					'inbox',
					new Date(Date.now() - 3_600_000).toISOString(),
				);
				graph.moveByRule(ALICE, id, f);
			}
			for (let i = 0; i < 5; i++)
				await graph.deliver(ALICE, await mail(`burst ${i}`), f, secondIso);
			await poll(last);
			// The window poller remembers when it polled: within the burst's second.
			last = new Date(second.getTime() + 500);
			for (let i = 5; i < 10; i++)
				await graph.deliver(ALICE, await mail(`burst ${i}`), f, secondIso);
			await poll(last);
			return 20 - seen.size;
		};
		const ours = await misses('ours');
		const window = await misses('window');

		console.log(`Drain of ${MESSAGES} messages from the Graph emulator (TLS, same machine):\n`);
		console.log(
			'| poller | messages seen | polls | requests | requests as Graph throttles | bodies read | bytes on the wire | wall time | requests per idle poll |',
		);
		console.log('|---|---|---|---|---|---|---|---|---|');
		for (const row of rows) console.log(row);
		console.log(
			'\nMissed of 20 (10 moved in by a rule with an old received time, 10 in one second around a poll):\n',
		);
		console.log('| poller | missed |');
		console.log('|---|---|');
		console.log(`| our delta trigger | ${ours} |`);
		console.log(`| receivedDateTime window | ${window} |`);
	} finally {
		await stack.stop();
	}
}

runTrustingStack(main);

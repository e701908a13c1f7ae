/**
 * Instant-trigger benchmark: the time from a message's delivery (APPEND to the local Dovecot) to its
 * emit, at a steady rate, for our instant trigger (n8n-core's TriggerContext, IMAP IDLE) and for the
 * path of n8n's own Email Trigger (@n8n/imap: imapflow with its automatic IDLE, an arrival handler that
 * searches the unseen mail and fetches it), measured in the same run.
 * Usage: npm run bench:instant -- [--messages 30] [--every-ms 2000]
 */
/* eslint-disable no-console */
import { resolve } from 'node:path';

import { ImapFlow } from 'imapflow';

import { startStack } from '../test/stack/index';
import { numberOption, runTrustingStack } from './run';

const MESSAGES = numberOption('messages', 30);
const EVERY_MS = numberOption('every-ms', 2000);
const USER = 'alice@example.test';

const percentile = (values: number[], p: number) =>
	[...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))];

async function main(): Promise<void> {
	const root = resolve(__dirname, '..');
	const stack = await startStack({ dir: resolve(root, '.tmp/bench-stack') });
	process.env.M365_STACK = JSON.stringify(stack.info);
	const { appendMails, freshFolder } = await import('../test/harness/mail');
	const { createTriggerContext, CredentialStore, triggerNode } = await import(
		'../test/harness/n8n'
	);
	const { delegatedCredential, IMAP_SCOPES, mintToken, signIn } = await import(
		'../test/harness/stack'
	);
	const { M365MailInstantTrigger } = await import(
		'../nodes/M365Mail/M365MailInstantTrigger.node.ts'
	);

	/** Appends MESSAGES at the steady rate and returns each one's latency to its `seen` time. */
	const measure = async (folder: string, seen: Map<string, number>) => {
		const sent = new Map<string, number>();
		for (let i = 0; i < MESSAGES; i++) {
			const subject = `latency ${i}`;
			sent.set(subject, Date.now());
			await appendMails(folder, [{ subject }]);
			await new Promise((r) => setTimeout(r, EVERY_MS));
		}
		const deadline = Date.now() + 60_000;
		while (seen.size < MESSAGES && Date.now() < deadline)
			await new Promise((r) => setTimeout(r, 200));
		if (seen.size < MESSAGES) throw new Error(`only ${seen.size} of ${MESSAGES} seen`);
		return [...sent].map(([subject, at]) => seen.get(subject)! - at);
	};
	const rows: string[] = [];
	const row = (name: string, latencies: number[]) =>
		rows.push(
			`| ${name} | ${latencies.length} | ${percentile(latencies, 0.5)} | ${percentile(latencies, 0.9)} | ${Math.max(...latencies)} |`,
		);
	try {
		// 1. Ours.
		{
			const store = new CredentialStore();
			store.set('alice', delegatedCredential(await signIn(USER, IMAP_SCOPES)));
			const folder = await freshFolder('bench-instant');
			const seen = new Map<string, number>();
			const context = createTriggerContext(
				triggerNode(folder, { afterEmit: 'markRead' }, 'alice', 'imap'),
				store,
				{
					emit: (data, _response, done) => {
						for (const item of data[0]) seen.set(String(item.json.subject), Date.now());
						done?.resolve({ status: 'success', data: { resultData: { runData: {} } } } as never);
					},
				},
			);
			const response = await new M365MailInstantTrigger().trigger.call(context);
			try {
				row('ours: instant trigger (IMAP IDLE)', await measure(folder, seen));
			} finally {
				await response.closeFunction?.();
			}
		}
		// 2. n8n's Email Trigger path: @n8n/imap with imapflow's automatic IDLE, as that node runs it.
		{
			const { ImapSimple, toImapFlowOptions } = await import('@n8n/imap');
			const folder = await freshFolder('bench-emailtrigger');
			const serverFolder = folder.replace(/^Inbox/, 'INBOX');
			const token = await mintToken({ upn: USER });
			const options = {
				host: '127.0.0.1',
				port: stack.info.imapsPort,
				secure: true,
				user: USER,
				password: '',
			};
			const imap = await ImapSimple.connect(options, { mailbox: serverFolder } as never, () => {
				const flow = new ImapFlow({
					...toImapFlowOptions(options),
					auth: { user: USER, accessToken: token },
				});
				flow.on('error', () => undefined);
				return flow as never;
			});
			const seen = new Map<string, number>();
			const known = new Set<number>();
			try {
				await imap.openBox(serverFolder);
				imap.onArrival(async () => {
					const unseen = await imap.search({ seen: false }, { uid: true, envelope: true });
					for (const m of unseen) {
						if (known.has(m.uid)) continue;
						known.add(m.uid);
						seen.set(String(m.envelope?.subject), Date.now());
					}
				});
				row('n8n: Email Trigger path (@n8n/imap, auto-IDLE)', await measure(folder, seen));
			} finally {
				imap.end();
			}
		}
		console.log(
			`\nLatency from delivery to emit, ${MESSAGES} messages at one per ${EVERY_MS} ms (local Dovecot):\n`,
		);
		console.log('| path | messages | p50 ms | p90 ms | max ms |');
		console.log('|---|---|---|---|---|');
		for (const r of rows) console.log(r);
	} finally {
		await stack.stop();
	}
}

runTrustingStack(main);

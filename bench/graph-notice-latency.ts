/**
 * Graph change-notification benchmark, in real n8n 2.41.1: the time from a message's delivery (into
 * the Graph emulator) to the start of the execution it causes, for the instant trigger with New Mail
 * Notice "Microsoft Graph Change Notifications" (n8n behind an https front; the emulator validates the
 * webhook URL and sends batched notifications 150 ms after a change), and, in the same run on the same
 * folder, for the polling trigger over Graph at n8n's shortest schedule (every minute) as the anchor.
 * Both workflows leave the mail as it is (After: Do Nothing), so each sees every message.
 * Usage: npm run bench:graph-notice -- [--messages 30] [--every-ms 2000]
 */
/* eslint-disable no-console */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';

import { startStack } from '../test/stack/index';
import { numberOption, runTrustingStack } from './run';

const MESSAGES = numberOption('messages', 30);
const EVERY_MS = numberOption('every-ms', 2000);
const MAILBOX = 'alice@example.test';

async function main(): Promise<void> {
	const root = resolve(__dirname, '..');
	const stack = await startStack({ dir: resolve(root, '.tmp/bench-stack') });
	process.env.M365_STACK = JSON.stringify(stack.info);
	const { GRAPH_SCOPES, graphDeliver, graphFolder } = await import('../test/harness/graph');
	const { delegatedCredential, signIn } = await import('../test/harness/stack');
	const { freshUserFolder, triggerWorkflowNode } = await import('../test/e2e/n8n');
	const { codeNode, countingFor, names, percentile, tally } = await import('../test/e2e/counting');
	const { n8nBehindHttpsFront } = await import('../test/e2e/https-front');

	const userFolder = freshUserFolder('bench-graph-notice');
	const { n8n, front } = await n8nBehindHttpsFront(userFolder, stack.info.caCertPath);
	try {
		await n8n.start();
		await n8n.login();
		const credential = { id: 'M365BenchGraph01', name: 'Alice (bench, Graph)' };
		await n8n.importCredentials([
			{
				...credential,
				type: 'm365MailOAuth2Api',
				data: delegatedCredential(await signIn(MAILBOX, GRAPH_SCOPES), { access: 'graph' }),
			},
		]);
		const ref = { m365MailOAuth2Api: credential };
		const folder = `Inbox/bench-graph-notice-${Date.now()}`;
		await graphFolder(MAILBOX, folder);
		const connections = { 'New Mail': { main: [[{ node: 'Process', type: 'main', index: 0 }]] } };
		const processNode = codeNode('return { json: $json };');
		const paths = [
			{
				label: 'ours: instant trigger, Graph change notifications (n8n webhook)',
				node: {
					...triggerWorkflowNode(
						'New Mail',
						folder,
						ref,
						{ notice: 'graph', afterEmit: 'none', maxMessages: 50 },
						'm365MailInstantTrigger',
					),
					webhookId: randomUUID(),
				},
			},
			{
				label: 'ours: polling trigger over Graph, every minute (anchor)',
				node: triggerWorkflowNode('New Mail', folder, ref, { afterEmit: 'none', maxMessages: 100 }),
			},
		];
		const ids: string[] = [];
		for (const path of paths) {
			const id = await n8n.createWorkflow(
				`Bench: ${path.label}`,
				[path.node, processNode],
				connections,
			);
			await n8n.api('POST', `/workflows/${id}/activate`);
			ids.push(id);
		}
		// The polling trigger's first poll sets its starting point; mail comes after it.
		await new Promise((r) => setTimeout(r, 3000));

		const subjects = names('bench graph notice', MESSAGES);
		const delivered = new Map<string, number>();
		for (const subject of subjects) {
			delivered.set(subject, Date.now());
			await graphDeliver(MAILBOX, { subject }, folder);
			await new Promise((r) => setTimeout(r, EVERY_MS));
		}
		const { instantRuns, succeededRuns } = countingFor(() => n8n);
		const rows: string[] = [];
		let anchorP50 = 0;
		for (const [i, path] of [...paths.entries()].reverse()) {
			await succeededRuns(ids[i], subjects, 150_000);
			const runs = (await instantRuns(ids[i])).filter((r) => r.status === 'success');
			const { lost, duplicated } = tally(
				subjects,
				runs.map((r) => r.subject),
			);
			const latencies = runs.map((r) => r.startedAt - delivered.get(r.subject)!);
			const p50 = percentile(latencies, 0.5);
			if (i === 1) anchorP50 = p50;
			rows.unshift(
				`| ${path.label} | ${runs.length} | ${lost} / ${duplicated} | ${p50} | ${percentile(latencies, 0.9)} | ${Math.max(...latencies)} | ${i === 1 ? '1.00x' : `${(anchorP50 / p50).toFixed(0)}x faster`} |`,
			);
		}
		for (const id of ids) await n8n.api('POST', `/workflows/${id}/deactivate`);
		console.log(
			`\n${MESSAGES} messages at one per ${EVERY_MS} ms, delivery -> execution start (ms), real n8n 2.41.1\n`,
		);
		console.log(
			'| path | messages run | lost / duplicated | p50 | p90 | max | p50 vs the polling trigger |',
		);
		console.log('|---|---|---|---|---|---|---|');
		for (const row of rows) console.log(row);
	} finally {
		await n8n.stop();
		await front.close();
		await stack.stop();
	}
}

runTrustingStack(main);

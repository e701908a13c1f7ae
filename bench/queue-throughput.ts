/**
 * Queue-mode throughput: executions per minute of "new mail -> flag -> move" (our instant trigger on
 * n8n's main process, one execution per message, Flag and Move action nodes on the workers) with 1 and
 * with 2 workers, against PostgreSQL and Redis from Debian and the local Dovecot, on this machine. The
 * CPU time each part used (n8n main, the workers, Dovecot, PostgreSQL, Redis, this process with the
 * test stack) shows where the limit is.
 * Usage: npm run bench:queue -- [--messages 500] [--max-workers 2]
 */
/* eslint-disable no-console */
import { mkdtempSync, readdirSync, readFileSync, cpSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { startStack } from '../test/stack/index';
import { numberOption, runTrustingStack } from './run';

const MESSAGES = numberOption('messages', 500);
const MAX_WORKERS = numberOption('max-workers', 2);
const TICKS_PER_SECOND = 100;

/** CPU seconds used so far by the live processes, by the part of the setup they belong to. */
function cpuByPart(parts: Map<number, string>): Record<string, number> {
	const result: Record<string, number> = {};
	for (const entry of readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		let stat: string;
		try {
			stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
		} catch {
			continue;
		}
		const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
		const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
		const pgrp = Number(fields[2]);
		const ticks = Number(fields[11]) + Number(fields[12]);
		let part = parts.get(pgrp);
		if (!part && Number(entry) === process.pid) part = 'bench + test stack';
		if (!part && /^(dovecot|imap|imap-login|auth|anvil|log|config|stats)$/.test(comm))
			part = 'Dovecot';
		if (!part && /^postgres/.test(comm)) part = 'PostgreSQL';
		if (!part && /^redis-server/.test(comm)) part = 'Redis';
		if (!part) continue;
		result[part] = (result[part] ?? 0) + ticks / TICKS_PER_SECOND;
	}
	return result;
}

async function main(): Promise<void> {
	const root = resolve(__dirname, '..');
	const stack = await startStack({ dir: resolve(root, '.tmp/bench-stack') });
	process.env.M365_STACK = JSON.stringify(stack.info);
	const { appendMails, freshFolder, listFolder } = await import('../test/harness/mail');
	const { delegatedCredential, IMAP_SCOPES, signIn } = await import('../test/harness/stack');
	const n8nModule = await import('../test/e2e/n8n');
	const { flagThenMove, installPackage, N8nInstance, triggerWorkflowNode } = n8nModule;
	const { Postgres, Redis } = await import('../test/e2e/services');

	mkdirSync(join(root, '.tmp'), { recursive: true });
	const packageFolder = mkdtempSync(join(root, '.tmp/bench-queue-package-'));
	installPackage(packageFolder);
	const rows: string[] = [];
	for (let workerCount = 1; workerCount <= MAX_WORKERS; workerCount++) {
		const postgres = new Postgres();
		const redis = new Redis();
		await postgres.start();
		await redis.start();
		const env = {
			...postgres.env(),
			...redis.env(),
			EXECUTIONS_MODE: 'queue',
			N8N_DEFAULT_BINARY_DATA_MODE: 'database',
		};
		const folderFor = (role: string) => {
			const folder = mkdtempSync(join(root, `.tmp/bench-queue-${role}-`));
			cpSync(join(packageFolder, '.n8n/nodes'), join(folder, '.n8n/nodes'), { recursive: true });
			return folder;
		};
		const mainFolder = folderFor('main');
		const main = new N8nInstance({
			userFolder: mainFolder,
			caCertPath: stack.info.caCertPath,
			logFile: join(mainFolder, 'n8n.log'),
			env,
		});
		const workers = Array.from({ length: workerCount }, (_, i) => {
			const folder = folderFor(`worker${i + 1}`);
			return new N8nInstance({
				userFolder: folder,
				caCertPath: stack.info.caCertPath,
				logFile: join(folder, 'n8n.log'),
				command: 'worker',
				env,
			});
		});
		try {
			await main.start();
			await Promise.all(workers.map((w) => w.start()));
			await main.login();
			const credential = { id: 'M365BenchQueue01', name: 'Alice (bench)' };
			await main.importCredentials([
				{
					...credential,
					type: 'm365MailOAuth2Api',
					data: delegatedCredential(await signIn('alice@example.test', IMAP_SCOPES)),
				},
			]);
			const ref = { m365MailOAuth2Api: credential };
			const folder = await freshFolder('bench-queue');
			const done = await freshFolder('bench-queue-done');
			const workflow = flagThenMove(
				triggerWorkflowNode(
					'New Mail',
					folder,
					ref,
					{ afterEmit: 'none', maxMessages: 50 },
					'm365MailInstantTrigger',
				),
				ref,
				done,
			);
			const id = await main.createWorkflow(
				'Bench: new mail -> flag -> move',
				workflow.nodes,
				workflow.connections,
			);
			await main.api('POST', `/workflows/${id}/activate`);
			await new Promise((r) => setTimeout(r, 2000));
			const parts = new Map<number, string>([[main.pid!, 'n8n main']]);
			workers.forEach((w, i) => parts.set(w.pid!, `worker ${i + 1}`));
			const cpuBefore = cpuByPart(parts);
			const started = Date.now();
			for (let i = 0; i < MESSAGES; i += 50)
				await appendMails(
					folder,
					Array.from({ length: Math.min(50, MESSAGES - i) }, (_, j) => ({
						subject: `bench ${i + j}`,
					})),
				);
			const delivered = Date.now();
			await main.waitFor(
				`${MESSAGES} messages moved`,
				async () => ((await listFolder(done)).length >= MESSAGES ? true : undefined),
				30 * 60_000,
			);
			const finished = Date.now();
			const cpuAfter = cpuByPart(parts);
			const executions = (await main.allExecutions(id)).filter((e) => e.mode === 'trigger');
			const failed = executions.filter((e) => e.status !== 'success').length;
			// How long one execution took on its worker, on average: longer with more workers means
			// they wait on something they share (the mailbox, the database), not on their own CPU.
			const durations = executions.map(
				(e) => Date.parse(String(e.stoppedAt)) - Date.parse(String(e.startedAt)),
			);
			const meanMs = durations.reduce((a, b) => a + b, 0) / Math.max(durations.length, 1);
			const minutes = (finished - started) / 60_000;
			const cpu = Object.entries(cpuAfter)
				.map(([part, seconds]) => [part, seconds - (cpuBefore[part] ?? 0)] as const)
				.sort((a, b) => b[1] - a[1]);
			const wallSeconds = (finished - started) / 1000;
			const cpuText = cpu
				.map(
					([part, seconds]) =>
						`${part} ${seconds.toFixed(1)} s (${((100 * seconds) / wallSeconds).toFixed(0)}%)`,
				)
				.join(', ');
			console.log(
				`${workerCount} worker(s): ${MESSAGES} messages in ${wallSeconds.toFixed(1)} s (delivery took ${((delivered - started) / 1000).toFixed(1)} s): ${(MESSAGES / minutes).toFixed(0)} executions/min, ${executions.length} executions, ${failed} failed, ${meanMs.toFixed(0)} ms per execution; CPU: ${cpuText}`,
			);
			rows.push(
				`| ${workerCount} | ${MESSAGES} | ${wallSeconds.toFixed(1)} | ${(MESSAGES / minutes).toFixed(0)} | ${failed} | ${meanMs.toFixed(0)} | ${cpuText} |`,
			);
		} finally {
			await Promise.all(workers.map((w) => w.stop()));
			await main.stop();
			await redis.stop();
			postgres.stop();
		}
	}
	await stack.stop();
	console.log(
		'\n| workers | messages | seconds | executions/min | failed | ms per execution | CPU seconds by part (% of one core) |',
	);
	console.log('|---|---|---|---|---|---|---|');
	for (const row of rows) console.log(row);
}

runTrustingStack(main);

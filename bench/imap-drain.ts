/**
 * IMAP benchmark: seeds a folder of generated mail in a local Dovecot (its own stack under
 * .tmp/bench-stack), then drains it with each scenario in a fresh process, several runs each, and
 * prints a Markdown table. Usage: npm run bench:imap -- [--messages 10000] [--runs 3]
 * [--size-mb 5]: every message carries one attachment of that size instead of the usual mix, and only
 * the parse ceiling and our trigger run (the memory budget under large mail). Each scenario runs on
 * the Node that runs n8n (bench/run.ts, n8nNode), whatever Node runs this script.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { ImapFlow } from 'imapflow';
import MailComposer from 'nodemailer/lib/mail-composer';

import { startStack } from '../test/stack/index';
import { TENANT_ID } from '../test/stack/directory';
import { startLatencyRelay } from './latency';
import { assertFreshBuild, n8nNode, numberOption, stringOption } from './run';

const option = numberOption;
const MESSAGES = option('messages', 10_000);
const RUNS = option('runs', 3);
const SIZE_MB = option('size-mb', 0);
/** `--only a,b`: just those scenarios; `--cpu-prof DIR`: a V8 CPU profile of each child in DIR, sampled every 200 µs. */
const ONLY = stringOption('only');
const CPU_PROF = stringOption('cpu-prof');
/**
 * `--gc-each-poll`: our scenarios run a full garbage collection after each poll (--expose-gc), to
 * tell what a poll keeps from what V8 has not collected yet. Not how n8n runs: for diagnosis only.
 */
const GC_EACH_POLL = process.argv.includes('--gc-each-poll');
/**
 * `--same-start`: every scenario loads what ours load (n8n-core's harness, the protocol libraries,
 * our trigger) before its clock starts, so each starts from the same idle process and the RSS
 * growths compare drains only. `--trace-gc DIR`: each child runs with V8's --trace-gc, its output
 * saved as DIR/<scenario>-<run>.log. Both for diagnosis.
 */
const SAME_START = process.argv.includes('--same-start');
/**
 * `--poll-gap-ms N`: our scenarios wait N ms after each poll that returned mail, as a trigger waits
 * for its next scheduled poll in n8n (which refuses an interval under a minute:
 * `activatePollTrigger` in n8n-core's active-workflow-triggers.js). The wait is not counted in the
 * drain's time. Without it the polls run back to back, which n8n never does.
 */
const POLL_GAP_MS = option('poll-gap-ms', 0);
const TRACE_GC = stringOption('trace-gc');
/**
 * `--mem-at-peak`: each child samples process.memoryUsage() every 10 ms and reports the sample with
 * the highest RSS (V8 heap, external memory, ArrayBuffers) and the heap in use at the clock's start:
 * what the peak is made of. For diagnosis.
 */
const MEM_AT_PEAK = process.argv.includes('--mem-at-peak');
/** Where every scenario runs: n8n's Node (`--node PATH`: another, to compare). */
const NODE = stringOption('node') ?? n8nNode();
/**
 * Our scenarios run the build in dist/, as n8n does (npm run bench:imap builds first); `--source`:
 * the TypeScript sources through tsx, as the tests run them, to compare.
 */
const SOURCE = process.argv.includes('--source');
/**
 * `--rtt-ms N`: every scenario reaches Dovecot through a relay that adds N ms to each round trip
 * (bench/latency.ts), as a mailbox across a network does; 0 (the default): directly.
 */
const RTT_MS = option('rtt-ms', 0);
const FOLDER = SIZE_MB ? `INBOX/bench-${MESSAGES}-${SIZE_MB}mb` : `INBOX/bench-${MESSAGES}`;

/** A small deterministic PRNG, so every run seeds the same mailbox. */
function prng(seed: number) {
	let s = seed >>> 0;
	return () => {
		s = (s * 1664525 + 1013904223) >>> 0;
		return s / 2 ** 32;
	};
}

const WORDS =
	'invoice order shipment meeting agenda report quarterly budget review customer ticket support update please thanks regards attached schedule delivery payment account'.split(
		' ',
	);

async function generate(i: number, random: () => number): Promise<Buffer> {
	const size = 2_000 + Math.floor(random() * 18_000);
	const words: string[] = [];
	let length = 0;
	while (length < size) {
		const w = WORDS[Math.floor(random() * WORDS.length)];
		words.push(w);
		length += w.length + 1;
	}
	const text = words.join(' ').replace(/(.{72}) /g, '$1\n');
	const withAttachment = SIZE_MB ? true : i % 20 === 7;
	const attachmentBytes = SIZE_MB ? SIZE_MB * 1024 * 1024 : 200_000;
	const html =
		i % 3 === 0
			? `<html><body><p>${text.slice(0, 4000).replace(/\n/g, '</p><p>')}</p></body></html>`
			: undefined;
	return await new MailComposer({
		from: `Sender ${i % 50} <sender${i % 50}@example.test>`,
		to: 'alice@example.test',
		subject: `Bench message ${i} ${WORDS[i % WORDS.length]}`,
		text,
		html,
		attachments: withAttachment
			? [
					{
						filename: `file-${i}.bin`,
						content: Buffer.from(
							Array.from({ length: attachmentBytes }, () => Math.floor(random() * 256)),
						),
					},
				]
			: undefined,
	})
		.compile()
		.build();
}

async function seed(port: number, token: string, ca: Buffer): Promise<{ bytes: number }> {
	const client = new ImapFlow({
		host: '127.0.0.1',
		port,
		secure: true,
		auth: { user: 'alice@example.test', accessToken: token },
		tls: { ca },
		logger: false,
		disableAutoIdle: true,
	});
	client.on('error', () => undefined);
	await client.connect();
	try {
		const status =
			(await client.status(FOLDER, { messages: true, unseen: true }).catch(() => false)) ||
			undefined;
		if (typeof status === 'object' && status.messages === MESSAGES && status.unseen === MESSAGES) {
			return { bytes: -1 };
		}
		if (status) await client.mailboxDelete(FOLDER);
		await client.mailboxCreate(FOLDER);
		const random = prng(42);
		let bytes = 0;
		const step = SIZE_MB ? 5 : 50;
		for (let i = 0; i < MESSAGES; i += step) {
			const batch = [];
			for (let j = i; j < Math.min(i + step, MESSAGES); j++) batch.push(await generate(j, random));
			bytes += batch.reduce((sum, b) => sum + b.length, 0);
			await Promise.all(batch.map((raw) => client.append(FOLDER, raw)));
		}
		return { bytes };
	} finally {
		await client.logout();
	}
}

function runChild(
	cwd: string,
	env: NodeJS.ProcessEnv,
	args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
	return new Promise((done) => {
		const child = spawn(
			NODE,
			[
				...(CPU_PROF
					? ['--cpu-prof', '--cpu-prof-interval=200', `--cpu-prof-dir=${CPU_PROF}`]
					: []),
				...(GC_EACH_POLL ? ['--expose-gc'] : []),
				...(TRACE_GC ? ['--trace-gc'] : []),
				'--import',
				'tsx',
				'bench/imap-scenario.ts',
				...args,
			],
			{
				cwd,
				env,
			},
		);
		let stdout = '';
		let stderr = '';
		child.stdout.on('data', (d) => (stdout += d));
		child.stderr.on('data', (d) => (stderr += d));
		child.on('exit', (status) => done({ status, stdout, stderr }));
	});
}

function median(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
	const root = resolve(__dirname, '..');
	if (!SOURCE) assertFreshBuild();
	const stack = await startStack({ dir: resolve(root, '.tmp/bench-stack') });
	try {
		const token = await stack.oauth.mint({ upn: 'alice@example.test' });
		const seeded = await seed(stack.info.imapsPort, token, readFileSync(stack.info.caCertPath));
		console.error(
			`seeded ${MESSAGES} messages (${seeded.bytes < 0 ? 'reused' : `${Math.round(seeded.bytes / 1e6)} MB`}) in ${FOLDER}, tenant ${TENANT_ID}`,
		);
		console.error(
			`scenarios run on Node ${execFileSync(NODE, ['--version']).toString().trim()} (${NODE}), our code from ${SOURCE ? 'the TypeScript sources (--source)' : 'its build in dist/'}`,
		);
		const relay = RTT_MS ? await startLatencyRelay(stack.info.imapsPort, RTT_MS) : undefined;
		if (relay) console.error(`IMAP through a relay adding ${RTT_MS} ms to every round trip`);
		const env = {
			...process.env,
			M365_STACK: JSON.stringify(relay ? { ...stack.info, imapsPort: relay.port } : stack.info),
			NODE_EXTRA_CA_CERTS: stack.info.caCertPath,
			...(SAME_START ? { BENCH_SAME_START: '1' } : {}),
			...(POLL_GAP_MS ? { BENCH_POLL_GAP_MS: String(POLL_GAP_MS) } : {}),
			...(MEM_AT_PEAK ? { BENCH_MEM_AT_PEAK: '1' } : {}),
			...(SOURCE ? {} : { M365_HARNESS_BUILT: '1' }),
		};
		if (TRACE_GC) mkdirSync(TRACE_GC, { recursive: true });
		const scenarios = (
			SIZE_MB
				? ['imapflow-parse', 'ours-full', 'ours-simple']
				: ['imapflow-fetch', 'imapflow-parse', 'n8n-imap-20', 'ours-full', 'ours-simple']
		)
			// bulk-fetch (our FETCH reader alone, beside imapflow-fetch) runs when asked for by --only.
			.concat(ONLY?.split(',').includes('bulk-fetch') ? ['bulk-fetch'] : [])
			.filter((s) => !ONLY || ONLY.split(',').includes(s));
		const results: Record<
			string,
			Array<{
				ms: number;
				cpuMs: number;
				maxRssMB: number;
				startRssMB: number;
				polls?: number;
				largestPollMB?: number;
			}>
		> = {};
		for (let run = 0; run < RUNS; run++) {
			for (const scenario of scenarios) {
				// Async: the OAuth2 server the child signs in against runs in this process.
				const child = await runChild(root, env, [scenario, FOLDER, String(MESSAGES)]);
				// What the child logged (n8n's logger writes to stdout: a poll's passing trouble, say).
				if (child.status !== 0)
					throw new Error(`${scenario} failed: ${child.stderr}\n${child.stdout.slice(-4000)}`);
				if (TRACE_GC) writeFileSync(resolve(TRACE_GC, `${scenario}-${run + 1}.log`), child.stdout);
				const result = JSON.parse(child.stdout.trim().split('\n').pop()!);
				(results[scenario] ??= []).push(result);
				// Polls that asked again for messages the server left out of an answer (the trigger's warning).
				const leftOut = child.stdout.match(/out of its answers/g)?.length ?? 0;
				console.error(
					`run ${run + 1} ${scenario}: ${result.ms} ms, peak ${result.maxRssMB} MB (start ${result.startRssMB} MB)${result.itemsHeapMB !== undefined ? `, a poll's items hold up to ${result.itemsHeapMB} MB of heap` : ''}${leftOut ? `, ${leftOut} poll(s) asked again for messages the server left out` : ''}${result.emptyPolls ? `, ${result.emptyPolls} empty poll(s) before the backlog was read (tried again)` : ''}${result.atPeakMB ? `; at the peak, MB: ${JSON.stringify(result.atPeakMB)}` : ''}`,
				);
			}
		}
		const rate = (ms: number) => Math.round((MESSAGES / ms) * 1000);
		const rateOf = (name: string) =>
			results[name] ? median(results[name].map((r) => rate(r.ms))) : NaN;
		const parseCeiling = rateOf('imapflow-parse');
		const anchor = SIZE_MB ? NaN : rateOf('n8n-imap-20');
		const growth = (r: { maxRssMB: number; startRssMB: number }) => r.maxRssMB - r.startRssMB;
		// A ratio against an anchor that did not run (--only, --size-mb) is "-", not NaN.
		const ratio = (value: number, base: number) =>
			Number.isFinite(base) ? `${(value / base).toFixed(2)}x` : '-';
		/**
		 * The ratio to the parse ceiling run by run (each run drains every scenario in turn, so a run's
		 * drains are minutes apart at most), then the median and the range: steadier than a ratio of
		 * medians when the machine's speed drifts between runs.
		 */
		const runByRun = (name: string) => {
			const ceiling = results['imapflow-parse'];
			if (!ceiling || name === 'imapflow-parse') return '-';
			const ratios = results[name].map((r, i) => ceiling[i].ms / r.ms);
			const fixed = (x: number) => `${x.toFixed(2)}x`;
			return `${fixed(median(ratios))} (${fixed(Math.min(...ratios))}-${fixed(Math.max(...ratios))})`;
		};
		console.log(
			`| path | msgs/s best / median | vs parse ceiling | vs parse ceiling run by run: median (range) | vs @n8n/imap | client CPU s (median) | peak RSS MB (max) | RSS at start MB | RSS growth MB (max) | polls | largest poll MB |`,
		);
		console.log(`|---|---|---|---|---|---|---|---|---|---|---|`);
		for (const scenario of scenarios) {
			const rates = results[scenario].map((r) => rate(r.ms));
			const med = median(rates);
			console.log(
				`| ${scenario} | ${Math.max(...rates)} / ${med} | ${ratio(med, parseCeiling)} | ${runByRun(scenario)} | ${ratio(med, anchor)} | ${(median(results[scenario].map((r) => r.cpuMs)) / 1000).toFixed(1)} | ${Math.max(...results[scenario].map((r) => r.maxRssMB))} | ${Math.max(...results[scenario].map((r) => r.startRssMB))} | ${Math.max(...results[scenario].map(growth))} | ${results[scenario][0].polls ?? '-'} | ${results[scenario][0].largestPollMB ?? '-'} |`,
			);
		}
		await relay?.close();
	} finally {
		await stack.stop();
	}
}

void main().catch((error: unknown) => {
	console.error(error);
	process.exit(1);
});

#!/usr/bin/env node
// Runs the test suites with node's test runner: one suite (unit, integration, e2e), or (default) all of them.
// Integration and e2e tests run against the local stack, which it starts for the run and stops afterwards.
// Prints "N passed, N failed".
//
// Two lanes run side by side, each a test runner of its own against a stack of its own (its own
// Dovecot, OAuth2 server, SMTP server and Graph emulator, in .stack/lane-N), so no test sees another
// lane's mail, tokens or switches. Within a lane, files run one at a time as before. Lane 1: unit,
// integration and the e2e files in LANE_1_E2E; lane 2: the other e2e files. Most of an e2e test's time is
// spent waiting on n8n (its poll schedule, its recovery after a kill), so the lanes share the machine's
// two cores well. M365_TEST_LANES=1 runs everything in one lane.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const which = process.argv[2] ?? 'all';
const suites = which === 'all' ? ['unit', 'integration', 'e2e'] : [which];
// Chosen so the lanes take about as long as each other. CI on a fresh machine (2 cores), both lanes at
// once: unit 20 s, integration 300 s, queue mode 360 s; delivery 400 s, Graph instant 200 s, the
// editor in Chromium 40 s, the other e2e file 40 s.
const LANE_1_E2E = ['test/e2e/queue.test.ts'];

function files(dir) {
	const full = join(root, 'test', dir);
	if (!existsSync(full)) return [];
	return readdirSync(full, { recursive: true })
		.filter((f) => f.endsWith('.test.ts') && !f.split('/').includes('node_modules'))
		.map((f) => join('test', dir, f))
		.sort();
}

async function startStack(dir) {
	const tmp = mkdtempSync(join(tmpdir(), 'm365-stack-'));
	const ready = join(tmp, 'ready.json');
	const child = spawn(
		process.execPath,
		['--import', 'tsx', 'test/stack/cli.ts', '--ready-file', ready, '--dir', dir],
		{
			cwd: root,
			stdio: ['ignore', 'inherit', 'inherit'],
		},
	);
	const deadline = Date.now() + 60_000;
	while (!existsSync(ready)) {
		if (child.exitCode !== null) throw new Error('the local stack failed to start');
		if (Date.now() > deadline) throw new Error('the local stack did not start within 60 s');
		await new Promise((r) => setTimeout(r, 200));
	}
	const info = JSON.parse(readFileSync(ready, 'utf8'));
	return {
		info,
		stop: async () => {
			child.kill('SIGTERM');
			await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
			rmSync(tmp, { recursive: true, force: true });
		},
	};
}

const testFiles = suites.flatMap(files);
const isE2e = (f) => f.startsWith(join('test', 'e2e'));
const laneCount = process.env.M365_TEST_LANES === '1' ? 1 : 2;
const lanes = (
	laneCount === 1
		? [testFiles]
		: [
				testFiles.filter((f) => !isE2e(f) || LANE_1_E2E.includes(f)),
				testFiles.filter((f) => isE2e(f) && !LANE_1_E2E.includes(f)),
			]
).filter((lane) => lane.length > 0);

const env = { ...process.env };
// The e2e suites install this package in n8n as `npm pack` makes it: packed once here, from the
// sources as they are now, and installed by each suite (a suite run alone packs for itself).
let packDir;
let installed = Promise.resolve();
if (testFiles.some(isE2e)) {
	packDir = mkdtempSync(join(tmpdir(), 'm365-pack-'));
	execFileSync('npm', ['pack', '--pack-destination', packDir], { cwd: root, stdio: 'ignore' });
	const tarball = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
	if (!tarball) throw new Error('npm pack produced no tarball');
	env.M365_E2E_TARBALL = join(packDir, tarball);
	// Installed once into n8n's layout before a lane with e2e files starts, so the lanes copy the same
	// install instead of running npm install at the same time (test/e2e/n8n.ts keeps it by tarball hash).
	if (lanes.length > 1) {
		installed = new Promise((resolve, reject) => {
			const child = spawn(process.execPath, ['--import', 'tsx', 'test/e2e/warm-install.ts'], {
				cwd: root,
				env,
				stdio: 'inherit',
			});
			child.on('exit', (c) =>
				c === 0 ? resolve() : reject(new Error('installing the package for n8n failed')),
			);
		});
	}
}

const prefixed = (stream, out, prefix) => {
	let rest = '';
	stream.on('data', (chunk) => {
		const lines = (rest + chunk.toString()).split('\n');
		rest = lines.pop();
		for (const line of lines) out.write(`${prefix}${line}\n`);
	});
	stream.on('end', () => rest && out.write(`${prefix}${rest}\n`));
};

async function runLane(laneFiles, index) {
	const name = `lane ${index + 1}`;
	const prefix = lanes.length > 1 ? `[${index + 1}] ` : '';
	if (laneFiles.some(isE2e)) await installed;
	let stack;
	const laneEnv = { ...env };
	if (laneFiles.some((f) => !f.startsWith(join('test', 'unit')))) {
		stack = await startStack(join(root, '.stack', `lane-${index + 1}`));
		laneEnv.M365_STACK = JSON.stringify(stack.info);
		laneEnv.NODE_EXTRA_CA_CERTS = stack.info.caCertPath;
	}
	// Per run, so that two runs on one machine never read each other's counts.
	const tapDir = mkdtempSync(join(tmpdir(), 'm365-tap-'));
	const tapFile = join(tapDir, `lane-${index + 1}.tap`);
	const started = Date.now();
	try {
		const code = await new Promise((resolve) => {
			const child = spawn(
				process.execPath,
				[
					'--import',
					'tsx',
					'--test',
					'--test-concurrency=1',
					'--test-reporter=spec',
					'--test-reporter-destination=stdout',
					'--test-reporter=tap',
					`--test-reporter-destination=${tapFile}`,
					...laneFiles,
				],
				{ cwd: root, env: laneEnv, stdio: ['ignore', 'pipe', 'pipe'] },
			);
			prefixed(child.stdout, process.stdout, prefix);
			prefixed(child.stderr, process.stderr, prefix);
			child.on('close', (c) => resolve(c ?? 1));
		});
		const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
		const passed = Number(/^# pass (\d+)/m.exec(tap)?.[1] ?? 0);
		const failed = Number(/^# fail (\d+)/m.exec(tap)?.[1] ?? 0);
		if (lanes.length > 1) {
			const seconds = Math.round((Date.now() - started) / 1000);
			console.log(`${prefix}${name}: ${passed} passed, ${failed} failed in ${seconds} s`);
		}
		return { code, passed, failed };
	} finally {
		rmSync(tapDir, { recursive: true, force: true });
		await stack?.stop();
	}
}

// Every lane runs to its end (and stops its stack) even when another fails to start.
const settled = await Promise.allSettled(lanes.map(runLane));
if (packDir) rmSync(packDir, { recursive: true, force: true });
for (const s of settled) if (s.status === 'rejected') console.error(s.reason);
const results = settled.map((s) =>
	s.status === 'fulfilled' ? s.value : { code: 1, passed: 0, failed: 0 },
);
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
const code = results.find((r) => r.code !== 0)?.code ?? 0;
console.log(`\ntests: ${passed} passed, ${failed} failed`);
process.exit(code || (failed > 0 ? 1 : 0) || (passed === 0 ? 1 : 0));

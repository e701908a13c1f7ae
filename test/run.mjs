#!/usr/bin/env node
// Runs the test suites with node's test runner: one suite (unit, integration, e2e), or (default) all of them;
// integration and e2e run against
// the local stack, which it starts once for the run and stops afterwards. Prints "N passed, N failed".
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const which = process.argv[2] ?? 'all';
const suites = which === 'all' ? ['unit', 'integration', 'e2e'] : [which];

function files(dir) {
	const full = join(root, 'test', dir);
	if (!existsSync(full)) return [];
	return readdirSync(full, { recursive: true })
		.filter((f) => f.endsWith('.test.ts') && !f.split('/').includes('node_modules'))
		.map((f) => join('test', dir, f))
		.sort();
}

async function startStack() {
	const tmp = mkdtempSync(join(tmpdir(), 'm365-stack-'));
	const ready = join(tmp, 'ready.json');
	const child = spawn(
		process.execPath,
		['--import', 'tsx', 'test/stack/cli.ts', '--ready-file', ready],
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

let stack;
const env = { ...process.env };
const testFiles = suites.flatMap(files);
// The e2e suites install this package in n8n as `npm pack` makes it: packed once here, from the
// sources as they are now, and installed by each suite (a suite run alone packs for itself).
let packDir;
if (suites.includes('e2e') && testFiles.some((f) => f.startsWith(join('test', 'e2e')))) {
	packDir = mkdtempSync(join(tmpdir(), 'm365-pack-'));
	execFileSync('npm', ['pack', '--pack-destination', packDir], { cwd: root, stdio: 'ignore' });
	const tarball = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
	if (!tarball) throw new Error('npm pack produced no tarball');
	env.M365_E2E_TARBALL = join(packDir, tarball);
}

if (suites.includes('integration') || suites.includes('e2e')) {
	stack = await startStack();
	env.M365_STACK = JSON.stringify(stack.info);
	env.NODE_EXTRA_CA_CERTS = stack.info.caCertPath;
}

let passed = 0;
let failed = 0;
let code = 0;
try {
	code = await new Promise((resolve) => {
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
				`--test-reporter-destination=${join(tmpdir(), 'm365-tap.txt')}`,
				...testFiles,
			],
			{ cwd: root, env, stdio: 'inherit' },
		);
		child.on('exit', (c) => resolve(c ?? 1));
	});
	const tap = readFileSync(join(tmpdir(), 'm365-tap.txt'), 'utf8');
	passed = Number(/^# pass (\d+)/m.exec(tap)?.[1] ?? 0);
	failed = Number(/^# fail (\d+)/m.exec(tap)?.[1] ?? 0);
} finally {
	await stack?.stop();
	if (packDir) rmSync(packDir, { recursive: true, force: true });
}
console.log(`\ntests: ${passed} passed, ${failed} failed`);
process.exit(code || (failed > 0 ? 1 : 0) || (passed === 0 ? 1 : 0));

/** What the bench scripts share: their command-line options, and running trusting the stack's CA. */
/* eslint-disable no-console */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { ensureCertificates } from '../test/stack/certs';

/** `--name N` from the command line, or the fallback. */
export function numberOption(name: string, fallback: number): number {
	const args = process.argv.slice(2);
	const i = args.indexOf(`--${name}`);
	return i >= 0 ? Number(args[i + 1]) : fallback;
}

/** `--name VALUE` from the command line, or undefined. */
export function stringOption(name: string): string | undefined {
	const args = process.argv.slice(2);
	const i = args.indexOf(`--${name}`);
	return i >= 0 ? args[i + 1] : undefined;
}

/**
 * The Node that runs n8n 2.41.1 (which requires Node 24): test/e2e/node24, installed by
 * scripts/e2e-setup.sh, else this Node. Its V8 collects garbage and compiles code differently from
 * Node 20's, so a drain measured on another Node says little about the package in n8n: on the same
 * machine, Simple output's ratio to the parse ceiling was 3.0x on Node 20 and 2.4x on Node 24.
 */
export function n8nNode(): string {
	const node24 = resolve(__dirname, '../test/e2e/node24/node_modules/.bin/node');
	return existsSync(node24) ? node24 : process.execPath;
}

/** The newest modification time of the .ts files under `dir`, in ms. */
function newestSource(dir: string): number {
	let newest = 0;
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		const file = join(dir, entry.name);
		if (entry.isDirectory()) newest = Math.max(newest, newestSource(file));
		else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(file).mtimeMs);
	}
	return newest;
}

/**
 * Checks that dist/ holds a build of the sources as they are, for a bench that times the build:
 * n8n runs the package's dist/ (compiled by tsc), not the TypeScript sources that tsx compiles on
 * the fly for the tests. tsx compiles with esbuild's keepNames, which names every function created,
 * each time it is created: on a drain, a few per cent of the time (bench/README.md).
 */
export function assertFreshBuild(): void {
	const root = resolve(__dirname, '..');
	const built = join(root, 'dist/nodes/M365Mail/M365MailTrigger.node.js');
	const sources = Math.max(
		newestSource(join(root, 'nodes')),
		newestSource(join(root, 'credentials')),
	);
	if (!existsSync(built) || statSync(built).mtimeMs < sources)
		throw new Error(
			'dist/ is missing or older than the sources: run npm run build first (npm run bench:imap does), or pass --source to time the sources',
		);
}

/**
 * Runs `main` in a process that trusts the bench stack's test CA: Node reads NODE_EXTRA_CA_CERTS
 * only at start, so the script starts itself again with it set.
 */
export function runTrustingStack(main: () => Promise<void>): void {
	const certs = ensureCertificates(resolve(__dirname, '../.tmp/bench-stack/certs'));
	if (process.env.NODE_EXTRA_CA_CERTS !== certs.caCertPath) {
		const child = spawn(process.execPath, process.execArgv.concat(process.argv.slice(1)), {
			stdio: 'inherit',
			env: { ...process.env, NODE_EXTRA_CA_CERTS: certs.caCertPath },
		});
		child.on('exit', (code) => process.exit(code ?? 0));
		return;
	}
	void main().catch((error: unknown) => {
		console.error(error);
		process.exit(1);
	});
}

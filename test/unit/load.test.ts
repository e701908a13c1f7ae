/**
 * n8n requires a node file when a workflow first needs it (or, for a package it cannot lazy-load, at
 * start in every process): loading our node files must not pull in the protocol libraries, which are
 * required on first use instead. Checked in a fresh process; what it costs is measured in bench/.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(__dirname, '../..');
const HEAVY = ['imapflow', 'mailparser', 'nodemailer', '@azure/msal-node', 'pino'];

function modulesLoadedBy(file: string): string[] {
	const script = `
		require(${JSON.stringify(file)});
		console.log(JSON.stringify(Object.keys(require.cache)));
	`;
	const output = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
		cwd: ROOT,
		encoding: 'utf8',
	});
	return JSON.parse(output.trim().split('\n').pop()!) as string[];
}

describe('what loading a node file pulls in', () => {
	for (const file of [
		'nodes/M365Mail/M365Mail.node.ts',
		'nodes/M365Mail/M365MailTrigger.node.ts',
		'nodes/M365Mail/M365MailInstantTrigger.node.ts',
		'credentials/M365MailOAuth2Api.credentials.ts',
		'credentials/M365MailAppOnlyApi.credentials.ts',
	]) {
		it(`${file}: none of ${HEAVY.join(', ')}`, () => {
			const loaded = modulesLoadedBy(join(ROOT, file));
			assert.ok(
				loaded.some((m) => m.endsWith(file.split('/').pop()!)),
				'the file itself loaded',
			);
			const heavy = HEAVY.filter((name) =>
				loaded.some((m) => m.includes(`/node_modules/${name}/`)),
			);
			assert.deepEqual(heavy, []);
		});
	}

	for (const file of [
		'nodes/M365Mail/M365Mail.node.ts',
		'nodes/M365Mail/M365MailTrigger.node.ts',
	]) {
		it(`${file}: no transport implementation, router, engine or method code (loaded on first use)`, () => {
			const ours = modulesLoadedBy(join(ROOT, file))
				.filter((m) => m.includes('/nodes/M365Mail/'))
				.map((m) => m.slice(m.indexOf('/nodes/M365Mail/') + '/nodes/M365Mail/'.length));
			assert.ok(
				ours.some((m) => m.endsWith('.node.ts')),
				'the file itself loaded',
			);
			const early = ours.filter((m) =>
				/^(transport\/(imap|graph|smtp)\/|transport\/(open|connection)\.ts|actions\/router\.ts|trigger\/(poll|engine|state|instant)\.ts|methods\/(listSearch|credentialTest)\.ts)/.test(
					m,
				),
			);
			assert.deepEqual(early, []);
		});
	}
});

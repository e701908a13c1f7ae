#!/usr/bin/env node
/**
 * What requiring a node file costs n8n at start (n8n loads every node file of a community package that
 * cannot be lazy-loaded, in every main, worker and webhook process). Each measurement is a fresh process
 * of the Node 24 that runs n8n (test/e2e/node24, installed by scripts/e2e-setup.sh; else this Node):
 * require n8n-workflow first (n8n has it loaded already), then time the require of one node file.
 * Anchors, measured in the same run: n8n's own Microsoft Outlook Trigger and Email Trigger (IMAP) from
 * the n8n 2.41.1 tree in test/e2e/n8n-host.
 *
 *   npm run build && node bench/load-time.mjs [--runs 5]
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
const node24 = join(root, 'test/e2e/node24/node_modules/.bin/node');
const nodeBin = existsSync(node24) ? node24 : process.execPath;
const base = join(root, 'test/e2e/n8n-host/node_modules/n8n-nodes-base/dist/nodes');

const files = {
	'ours: M365Mail.node.js': join(root, 'dist/nodes/M365Mail/M365Mail.node.js'),
	'ours: M365MailTrigger.node.js': join(root, 'dist/nodes/M365Mail/M365MailTrigger.node.js'),
	'ours: M365MailInstantTrigger.node.js': join(
		root,
		'dist/nodes/M365Mail/M365MailInstantTrigger.node.js',
	),
	'n8n: MicrosoftOutlookTrigger': join(base, 'Microsoft/Outlook/MicrosoftOutlookTrigger.node.js'),
	'n8n: EmailReadImap (IMAP trigger)': join(base, 'EmailReadImap/EmailReadImap.node.js'),
};

const HEAVY = /node_modules\/(imapflow|mailparser|nodemailer|@azure\/msal-node|pino)\//;

/** One fresh process: ms to require n8n-workflow, ms to require the file, heavy modules it pulled in. */
function measure(file) {
	const script = `
		const { createRequire } = require('node:module');
		const req = createRequire(${JSON.stringify(file)});
		let t = process.hrtime.bigint();
		req('n8n-workflow');
		const workflowMs = Number(process.hrtime.bigint() - t) / 1e6;
		const before = new Set(Object.keys(require.cache));
		t = process.hrtime.bigint();
		req(${JSON.stringify(file)});
		const fileMs = Number(process.hrtime.bigint() - t) / 1e6;
		const added = Object.keys(require.cache).filter((k) => !before.has(k));
		const heavy = [...new Set(added.filter((k) => ${HEAVY}.test(k)).map((k) => k.match(${HEAVY})[1]))];
		console.log(JSON.stringify({ workflowMs, fileMs, modules: added.length, heavy }));
	`;
	return JSON.parse(execFileSync(nodeBin, ['-e', script], { encoding: 'utf8' }));
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rows = [];
for (const [name, file] of Object.entries(files)) {
	if (!existsSync(file)) {
		rows.push({ name, missing: true });
		continue;
	}
	const samples = Array.from({ length: runs }, () => measure(file));
	rows.push({
		name,
		medianMs: median(samples.map((s) => s.fileMs)),
		maxMs: Math.max(...samples.map((s) => s.fileMs)),
		modules: samples[0].modules,
		heavy: samples[0].heavy.join(', ') || '-',
	});
}
console.log(
	`node ${execFileSync(nodeBin, ['--version'], { encoding: 'utf8' }).trim()}, ${runs} fresh processes each\n`,
);
console.log('| node file | require ms (median / max) | modules loaded | heavy libraries loaded |');
console.log('| --- | --- | --- | --- |');
for (const r of rows) {
	if (r.missing) console.log(`| ${r.name} | not installed | | |`);
	else
		console.log(
			`| ${r.name} | ${r.medianMs.toFixed(1)} / ${r.maxMs.toFixed(1)} | ${r.modules} | ${r.heavy} |`,
		);
}

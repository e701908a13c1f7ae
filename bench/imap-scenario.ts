/**
 * One benchmark scenario in its own process (so peak RSS is its own): drains the seeded folder and
 * prints {scenario, messages, ms, cpuMs, maxRssMB} as JSON. Run by bench/imap-drain.ts.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';

import { ImapFlow } from 'imapflow';
import { simpleParser } from 'mailparser';
import type { IDataObject } from 'n8n-workflow';

import {
	delegatedCredential,
	IMAP_SCOPES,
	mintToken,
	signIn,
	stackInfo,
} from '../test/harness/stack';
import type { CredentialStore } from '../test/harness/n8n';

const [scenario, folder, expectedText] = process.argv.slice(2);
const expected = Number(expectedText);
const USER = 'alice@example.test';

async function client(): Promise<ImapFlow> {
	const c = new ImapFlow({
		host: '127.0.0.1',
		port: stackInfo().imapsPort,
		secure: true,
		auth: { user: USER, accessToken: await mintToken({ upn: USER }) },
		logger: false,
		disableAutoIdle: true,
	});
	c.on('error', () => undefined);
	await c.connect();
	return c;
}

async function imapflowOnly(parse: boolean): Promise<number> {
	const c = await client();
	let n = 0;
	const lock = await c.getMailboxLock(folder, { readOnly: true });
	try {
		for await (const m of c.fetch('1:*', { uid: true, source: true })) {
			if (parse) await simpleParser(m.source!);
			n++;
		}
	} finally {
		lock.release();
		await c.logout();
	}
	return n;
}

/**
 * One of our modules, from the build in dist/ when the harness runs it (M365_HARNESS_BUILT, set by
 * bench/imap-drain.ts: what n8n runs), else from the TypeScript sources.
 */
function ourModule(path: string): Promise<Record<string, unknown>> {
	return process.env.M365_HARNESS_BUILT
		? import(`../dist/nodes/M365Mail/${path}.js`)
		: import(`../nodes/M365Mail/${path}`);
}

/** Our bulk FETCH reader alone (transport/imap/bulk.ts), no parsing: beside imapflow-fetch. */
async function bulkOnly(): Promise<number> {
	const { bulkFetch } = (await ourModule(
		'transport/imap/bulk',
	)) as typeof import('../nodes/M365Mail/transport/imap/bulk');
	const c = await client();
	let n = 0;
	const lock = await c.getMailboxLock(folder, { readOnly: true });
	try {
		const uids = await c.search({ all: true }, { uid: true });
		for await (const group of bulkFetch(c, uids || [])) n += group.length;
	} finally {
		lock.release();
		await c.logout();
	}
	return n;
}

/** n8n's Email Trigger path: @n8n/imap search for unseen UIDs, then fetch + parse in batches of 20. */
async function n8nImap(): Promise<number> {
	const { ImapSimple, toImapFlowOptions } = await import('@n8n/imap');
	const token = await mintToken({ upn: USER });
	const options = {
		host: '127.0.0.1',
		port: stackInfo().imapsPort,
		secure: true,
		user: USER,
		password: '',
	};
	// @n8n/imap has no XOAUTH2 option: its transport factory is given the same imapflow settings
	// with an access token instead of the password.
	const imap = await ImapSimple.connect(options, undefined, () => {
		const flow = new ImapFlow({
			...toImapFlowOptions(options),
			auth: { user: USER, accessToken: token },
		});
		return flow as never;
	});
	let n = 0;
	try {
		await imap.openBox(folder);
		const unseen = await imap.search({ seen: false }, { uid: true });
		const uids = unseen.map((m) => m.uid);
		for (let i = 0; i < uids.length; i += 20) {
			const batch = await imap.search(
				{ uid: uids.slice(i, i + 20).join(',') },
				{ uid: true, source: true, flags: true, envelope: true },
			);
			for (const m of batch) {
				await simpleParser(m.source!);
				n++;
			}
		}
	} finally {
		imap.end();
	}
	return n;
}

let polls = 0;
/** BENCH_POLL_GAP_MS: the pause after each poll that returned mail; gapMs, the pauses' total. */
const POLL_GAP_MS = Number(process.env.BENCH_POLL_GAP_MS ?? 0);
let gapMs = 0;
let largestPoll = 0;
/** Polls that returned nothing before the backlog was read (passing trouble), and how many in a row. */
let emptyPolls = 0;
let emptyInARow = 0;
/** Attachments (binary properties) the polls stored through n8n's binary data service. */
let binaryOnDisk = 0;
/** The most heap one poll's items held (--gc-each-poll only), bytes. */
let largestItemsHeap = 0;

/** The credential our scenarios poll with, signed in before the clock (prepareOurs). */
let credentials: CredentialStore | undefined;

function triggerSpec(output: 'simple' | 'full') {
	return {
		parameters: {
			authentication: 'delegated',
			mailbox: '',
			folder: { __rl: true, mode: 'path', value: folder.replace(/^INBOX/, 'Inbox') },
			output,
			afterEmit: 'none',
			startFrom: 'existing',
			maxMessages: 500,
			options: { maxSizeMb: 0 },
		},
		credentials: { m365MailOAuth2Api: 'alice' },
	};
}

/**
 * What a running n8n has done before a trigger's poll, done before the clock: the credential exists
 * (signed in), and n8n's expression compiler has compiled the credential type's expressions (its
 * authorization and token URLs and scopes; n8n compiles each expression once per process and keeps
 * it, which took about 120 ms of the first poll on a 2-core machine). No mail is read here.
 */
async function prepareOurs(output: 'simple' | 'full'): Promise<void> {
	const { CredentialStore, createPollContext } = await import('../test/harness/n8n');
	credentials = new CredentialStore();
	credentials.set('alice', delegatedCredential(await signIn(USER, IMAP_SCOPES)));
	await createPollContext(triggerSpec(output), credentials).getCredentials('m365MailOAuth2Api');
}

/** --poll-gap-ms (bench/imap-drain.ts): the wait for n8n's next scheduled poll, not timed. */
async function untilNextPoll(): Promise<void> {
	if (!POLL_GAP_MS) return;
	await new Promise((resolve) => setTimeout(resolve, POLL_GAP_MS));
	gapMs += POLL_GAP_MS;
}

async function ours(output: 'simple' | 'full'): Promise<number> {
	// n8n-core (the harness) is loaded before the clock (main): n8n itself has it loaded anyway.
	const { pollTrigger } = await import('../test/harness/n8n');
	const state: IDataObject = {};
	const node = triggerSpec(output);
	let n = 0;
	for (;;) {
		const items = await pollTrigger(node, credentials!, state);
		if (!items.length) {
			// An empty poll ends the drain. Short of the backlog, say what the trigger's state holds:
			// a poll that failed with passing trouble returns nothing and counts it there. Such a poll
			// is tried again, as n8n's next scheduled poll would (at most twice in a row), and counted.
			if (n < expected) {
				console.error(`empty poll after ${n}: state ${JSON.stringify(state).slice(0, 2000)}`);
				emptyPolls++;
				if (emptyInARow++ < 2) {
					await untilNextPoll();
					continue;
				}
			}
			break;
		}
		emptyInARow = 0;
		n += items.length;
		polls++;
		// What one poll handed to n8n: the size of the messages it read (the budget's measure).
		const bytes = items.reduce((sum, item) => sum + Number(item.json.size ?? 0), 0);
		for (const item of items) {
			for (const binary of Object.values(item.binary ?? {})) {
				if (!binary.id) throw new Error('an attachment was kept in the item, not on disk');
				binaryOnDisk++;
			}
		}
		largestPoll = Math.max(largestPoll, bytes);
		await untilNextPoll();
		// --gc-each-poll (bench/imap-drain.ts): what stays after a poll, without V8's own timing, and
		// what this poll's items hold (the heap freed when they are dropped).
		const gc = (globalThis as { gc?: () => void }).gc;
		if (gc) {
			gc();
			const withItems = process.memoryUsage().heapUsed;
			items.length = 0;
			gc();
			largestItemsHeap = Math.max(largestItemsHeap, withItems - process.memoryUsage().heapUsed);
		}
	}
	return n;
}

const run: Record<string, () => Promise<number>> = {
	'imapflow-fetch': () => imapflowOnly(false),
	'imapflow-parse': () => imapflowOnly(true),
	'bulk-fetch': bulkOnly,
	'n8n-imap-20': n8nImap,
	'ours-full': () => ours('full'),
	'ours-simple': () => ours('simple'),
};

/** n8n's user folder for this scenario's binary data; removed when the scenario ends. */
const binaryFolder = path.resolve('.tmp', `bench-binary-${process.pid}`);

async function main(): Promise<void> {
	process.on('exit', () => rmSync(binaryFolder, { recursive: true, force: true }));
	// Load what the scenario needs before the clock starts (n8n has it loaded anyway).
	// BENCH_SAME_START (--same-start): every scenario starts from the process ours start from.
	if (scenario.startsWith('ours') || process.env.BENCH_SAME_START) {
		const { storeBinaryDataOnDisk } = await import('../test/harness/n8n');
		// Attachments go to disk as in a regular n8n 2.41 (its default binary data mode, set up at
		// start), not into the items as base64: a poll holds what it holds in n8n.
		await storeBinaryDataOnDisk(binaryFolder);
		// The protocol libraries load on first use (not when n8n loads the node file): load them here,
		// as a running n8n has them after its first poll, so the clock measures polls, not loading.
		// Our own trigger and transport modules load on first use too (trigger/poll and what it
		// imports, from the same build the harness runs): loaded as well, for the same reason.
		await Promise.all([
			import('imapflow'),
			import('mailparser'),
			import('html-to-text'),
			import('libmime'),
			import('nodemailer/lib/addressparser'),
			ourModule('trigger/poll'),
		]);
	}
	if (scenario.startsWith('ours')) await prepareOurs(scenario === 'ours-full' ? 'full' : 'simple');
	if (scenario.startsWith('n8n')) await import('@n8n/imap');
	if (scenario === 'bulk-fetch') await ourModule('transport/imap/bulk');
	const { rss: rssBefore, heapUsed: heapBefore } = process.memoryUsage();
	// BENCH_MEM_AT_PEAK (--mem-at-peak): the memory sample with the highest RSS, and what it holds.
	let atPeak: NodeJS.MemoryUsage | undefined;
	if (process.env.BENCH_MEM_AT_PEAK) {
		setInterval(() => {
			const sample = process.memoryUsage();
			if (!atPeak || sample.rss > atPeak.rss) atPeak = sample;
		}, 10).unref();
	}
	const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
	const start = Date.now();
	const cpuStart = process.cpuUsage();
	const messages = await run[scenario]();
	const ms = Date.now() - start - gapMs;
	const cpu = process.cpuUsage(cpuStart);
	if (messages !== expected) {
		console.error(`${scenario}: drained ${messages} messages, expected ${expected}`);
		process.exit(1);
	}
	console.log(
		JSON.stringify({
			scenario,
			messages,
			ms,
			cpuMs: Math.round((cpu.user + cpu.system) / 1000),
			maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
			startRssMB: Math.round(rssBefore / 1024 / 1024),
			heapUsedMB: Math.round(process.memoryUsage().heapUsed / 1024 / 1024),
			...(polls ? { polls, largestPollMB: Math.round(largestPoll / 1024 / 1024) } : {}),
			...(binaryOnDisk ? { binaryOnDisk } : {}),
			...(emptyPolls ? { emptyPolls } : {}),
			...(gapMs ? { gapMs } : {}),
			...(atPeak
				? {
						atPeakMB: {
							heapUsedAtStart: mb(heapBefore),
							...Object.fromEntries(Object.entries(atPeak).map(([k, v]) => [k, mb(v)])),
						},
					}
				: {}),
			...(largestItemsHeap ? { itemsHeapMB: Math.round(largestItemsHeap / 1e5) / 10 } : {}),
		}),
	);
}

void main().catch((error: unknown) => {
	console.error(error);
	process.exit(1);
});

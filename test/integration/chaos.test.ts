/**
 * Faults at random, together. Each fault has a test of its own elsewhere; here seeded schedules
 * (test/harness/chaos.ts) mix them as they come in life: new mail (some while a poll runs, some in
 * bursts of more than a poll takes), scheduled polls, overlapping polls, results n8n discards,
 * restarts, re-publishes with other parameters, connections cut in the middle of a download, IMAP
 * session processes killed, mail expunged or read by someone else before the trigger saw it, the
 * folder rebuilt by the server (a new UIDVALIDITY, in order or not), and "Fetch Test Event". n8n is
 * the harness's model of n8n 2.41 (one Workflow per activation, static data saved at an emit), or of
 * its durable cursors (queue mode); every kind of step comes at least once.
 *
 * Each schedule counts, as every fault test does: lost and duplicated messages are both 0. A message
 * expunged, or read by someone else, before any counted poll emitted it is excused from "lost" (the
 * trigger watches unread mail in the folder), never from "duplicated". With an after-emit action,
 * the action reaches only mail n8n had (after every step), and every emitted message by the end.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { itEachSchedule, runSchedule, SHARED_WEIGHTS, type ScheduleRun } from '../harness/chaos';
import { CredentialStore } from '../harness/n8n';
import {
	appendMails,
	CuttingProxy,
	expungeMails,
	freshFolder,
	killImapProcesses,
	listFolder,
	recreateFolder,
	testImap,
} from '../harness/mail';
import { delegatedCredential, IMAP_SCOPES, signIn } from '../harness/stack';

const store = new CredentialStore();
const proxy = new CuttingProxy();

before(async () => {
	await proxy.start();
	const data = await signIn('alice@example.test', IMAP_SCOPES);
	store.set('chaos', delegatedCredential(data, { customImapPort: proxy.port }));
});
after(async () => await proxy.stop());

/** Marks messages of the folder \Seen from another session (a person reading them in Outlook). */
async function readByOther(folder: string, uids: number[]): Promise<void> {
	const client = await testImap();
	try {
		const lock = await client.getMailboxLock(folder.replace(/^Inbox/, 'INBOX'));
		try {
			await client.messageFlagsAdd(uids.join(','), ['\\Seen'], { uid: true });
		} finally {
			lock.release();
		}
	} finally {
		await client.logout();
	}
}

/** The folder as the schedule sees it. */
const listed = async (folder: string) =>
	(await listFolder(folder)).map((m) => ({ ...m, read: m.flags.includes('\\Seen') }));

async function schedule(run: ScheduleRun) {
	const { seed, afterEmit } = run;
	const folder = await freshFolder(`chaos-${seed}`);
	const archive = afterEmit === 'move' ? await freshFolder(`chaos-${seed}-archive`) : undefined;
	const cutsBefore = proxy.cuts;
	const outcome = await runSchedule({
		...run,
		protocol: 'imap',
		store,
		credential: 'chaos',
		folder,
		archive,
		tag: `${seed}-${afterEmit}-${run.model}`,
		outputs: ['simple', 'full'],
		// One in four over 64 KB: the simple output reads those by structure, and a poll of 20 or
		// more with both sizes (a burst) reads them and the small ones in one write, by our own
		// reader (transport/imap/simple.ts, bulk.ts).
		sizes: [200, 200, 40_000, 100_000],
		weights: {
			...SHARED_WEIGHTS,
			cut: 2,
			kill: 1,
			expunge: 1,
			'read by someone else': 1,
			'folder rebuilt': 1,
		},
		list: listed,
		deliver: async (mail) => void (await appendMails(folder, mail)),
		step: async (kind, s) => {
			switch (kind) {
				case 'cut': {
					const bytes = 2_000 + s.below(150_000);
					s.steps.push(`cut after ${bytes} bytes`);
					proxy.cutNextAfter(bytes);
					await s.counted(s.poll);
					proxy.disarm();
					break;
				}
				case 'kill':
					s.steps.push('IMAP processes killed');
					killImapProcesses();
					break;
				case 'expunge': {
					const chosen = await s.victim();
					s.steps.push(`expunged ${chosen.subject}`);
					await expungeMails(folder, [chosen.uid]);
					break;
				}
				case 'read by someone else': {
					const chosen = await s.victim();
					s.steps.push(`read by someone else: ${chosen.subject}`);
					await readByOther(folder, [chosen.uid]);
					break;
				}
				case 'folder rebuilt': {
					const reverse = s.below(2) === 1;
					const validity = await recreateFolder(folder, reverse);
					s.steps.push(`folder rebuilt${reverse ? ' in reverse' : ''} (UIDVALIDITY ${validity})`);
					break;
				}
			}
		},
		calm: () => proxy.disarm(),
		end: async (emitted) => {
			// A rebuilt folder keeps its mail: every emitted message reached the archive.
			if (afterEmit !== 'move') return;
			const moved = (await listFolder(archive!)).map((m) => m.subject).sort();
			assert.deepEqual(moved, [...emitted].sort());
		},
	});
	return { ...outcome, cuts: proxy.cuts - cutsBefore };
}

describe('trigger over IMAP: faults at random, together, counted', () => {
	const totals = { sent: 0, cuts: 0 };

	itEachSchedule(1, schedule, (outcome) => {
		totals.sent += outcome.sent.length;
		totals.cuts += outcome.cuts;
	});

	it('the schedules did what they are for: enough mail, and connections cut mid-download', () => {
		assert.ok(totals.sent >= 50, `mail sent: ${totals.sent}`);
		assert.ok(totals.cuts >= 2, `connections cut mid-download: ${totals.cuts}`);
	});
});

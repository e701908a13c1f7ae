/**
 * Faults at random, together, over Microsoft Graph (the emulator), as chaos.test.ts mixes them over
 * IMAP. Each fault has a test of its own in graph.test.ts; here seeded schedules
 * (test/harness/chaos.ts) mix them: new mail (some while a poll runs, some in bursts received in the
 * same second), scheduled and overlapping polls, results n8n discards, restarts, re-publishes with
 * other parameters, requests that fail past the client's retries, dropped connections, a delta state
 * Graph no longer knows (410), a delta round answered again (Graph's documented replays), mail moved
 * away by a rule or read in Outlook before the trigger saw it, the folder deleted and created again,
 * and "Fetch Test Event". n8n is the harness's model of n8n 2.41 (one Workflow per activation, static
 * data saved at an emit), or of its durable cursors (queue mode); every kind of step comes at least
 * once.
 *
 * Each schedule counts: lost and duplicated messages are both 0. A message moved away, read by
 * someone else, or deleted with its folder before any counted poll emitted it is excused from
 * "lost", never from "duplicated". With an after-emit action, the action reaches only mail n8n had
 * (after every step), and every emitted message by the end.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';

import { itEachSchedule, runSchedule, SHARED_WEIGHTS, type ScheduleRun } from '../harness/chaos';
import {
	graphDeliver,
	graphDrop,
	graphExpireDelta,
	graphFaultsServed,
	graphFolder,
	graphInject,
	graphList,
	graphMoveByRule,
	graphRecreateFolder,
	graphReplayDelta,
	GRAPH_SCOPES,
} from '../harness/graph';
import { CredentialStore, runActionNode } from '../harness/n8n';
import { delegatedCredential, signIn } from '../harness/stack';

const ALICE = 'alice@example.test';
const store = new CredentialStore();

before(async () => {
	store.set('chaos', delegatedCredential(await signIn(ALICE, GRAPH_SCOPES), { access: 'graph' }));
});

async function freshGraphFolder(prefix: string): Promise<string> {
	const path = `Inbox/${prefix}-${randomUUID().slice(0, 8)}`;
	await graphFolder(ALICE, path);
	return path;
}

/** Someone reads a message in Outlook (the action node, as anyone's client would). */
async function readInOutlook(id: string): Promise<void> {
	await runActionNode(
		{
			parameters: {
				authentication: 'delegated',
				protocol: 'graph',
				mailbox: '',
				resource: 'message',
				operation: 'markAsRead',
				messageId: id,
			},
			credentials: { m365MailOAuth2Api: 'chaos' },
		},
		store,
	);
}

/** Injected failures Graph answered and connections it dropped, so far. */
const failures = async () => {
	const { failed, dropped } = await graphFaultsServed();
	return failed + dropped;
};

/** The folder as the schedule sees it. */
const listed = async (folder: string) =>
	(await graphList(ALICE, folder)).map((m) => ({ ...m, read: m.isRead }));

async function schedule(run: ScheduleRun) {
	const { seed, afterEmit } = run;
	const folder = await freshGraphFolder(`gchaos-${seed}`);
	const elsewhere = await freshGraphFolder(`gchaos-${seed}-rules`);
	const archive =
		afterEmit === 'move' ? await freshGraphFolder(`gchaos-${seed}-archive`) : undefined;
	const failedBefore = await failures();
	const deliver = async (mail: Array<{ subject: string }>, at?: string) => {
		for (const m of mail) await graphDeliver(ALICE, m, folder, at);
	};
	const outcome = await runSchedule({
		...run,
		protocol: 'graph',
		store,
		credential: 'chaos',
		folder,
		archive,
		tag: `g${seed}-${afterEmit}-${run.model}`,
		outputs: ['simple', 'full', 'raw'],
		sizes: [200, 200, 40_000],
		weights: {
			...SHARED_WEIGHTS,
			'failures past the retries': 2,
			'dropped connection': 1,
			'delta state expired': 1,
			'delta round replayed': 1,
			'moved by a rule': 1,
			'read by someone else': 1,
			'folder created again': 1,
		},
		list: listed,
		deliver,
		step: async (kind, s) => {
			switch (kind) {
				case 'failures past the retries': {
					// New mail first, so that the failures can fall on its delta page, its bodies or the
					// actions owed before it.
					await deliver(s.newMail());
					const after = s.below(4);
					s.steps.push(`mail, then five 503s after ${after} requests`);
					const failed = async () => (await graphFaultsServed()).failed;
					const before = await failed();
					await graphInject(503, 5, '0', undefined, after);
					// Scheduled polls until all five were answered (an idle poll makes one request), so
					// none is left for a later step.
					for (let polls = 0; polls < 10 && (await failed()) < before + 5; polls++)
						await s.counted(s.poll);
					assert.equal(await failed(), before + 5, 'the five failures were answered');
					break;
				}
				case 'dropped connection':
					s.steps.push('a connection dropped');
					await graphDrop(1);
					await s.counted(s.poll);
					break;
				case 'delta state expired':
					s.steps.push(kind);
					await graphExpireDelta();
					break;
				case 'delta round replayed':
					s.steps.push(kind);
					await graphReplayDelta(1);
					break;
				case 'moved by a rule': {
					const chosen = await s.victim();
					s.steps.push(`moved by a rule: ${chosen.subject}`);
					await graphMoveByRule(ALICE, chosen.id, elsewhere);
					break;
				}
				case 'read by someone else': {
					const chosen = await s.victim();
					s.steps.push(`read by someone else: ${chosen.subject}`);
					await readInOutlook(chosen.id);
					break;
				}
				case 'folder created again':
					// Deleted for good with its mail, and made again under the same path (a new id).
					for (const m of await s.notYetSeen()) s.excused.add(m.subject);
					s.steps.push(kind);
					await graphRecreateFolder(ALICE, folder);
					break;
			}
		},
	});
	return { ...outcome, failed: (await failures()) - failedBefore };
}

describe('trigger over Graph: faults at random, together, counted', () => {
	const totals = { sent: 0, failed: 0, excused: 0 };

	itEachSchedule(11, schedule, (outcome) => {
		totals.sent += outcome.sent.length;
		totals.failed += outcome.failed;
		totals.excused += outcome.excused.size;
	});

	it('the schedules did what they are for: enough mail, failed requests, mail excused', () => {
		assert.ok(totals.sent >= 100, `mail sent: ${totals.sent}`);
		assert.ok(totals.failed >= 12, `requests failed or dropped: ${totals.failed}`);
		assert.ok(totals.excused >= 6, `mail moved, read or deleted by others: ${totals.excused}`);
	});
});

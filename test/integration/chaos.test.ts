/**
 * Faults at random, together. Each fault has a test of its own elsewhere; here seeded schedules mix
 * them as they come in life: new mail (some while a poll runs, some in bursts of more than a poll
 * takes), scheduled polls, overlapping polls, results n8n discards, restarts, re-publishes with
 * other parameters, connections cut in the middle of a download, IMAP session processes killed,
 * mail expunged or read by someone else before the trigger saw it, the folder rebuilt by the server
 * (a new UIDVALIDITY, in order or not), and "Fetch Test Event". n8n is the harness's model of n8n 2.41 (one Workflow per activation, static data
 * saved at an emit), or of its durable cursors (queue mode); every kind of step comes at least once.
 *
 * Each schedule counts, as every fault test does: lost and duplicated messages are both 0. A message
 * expunged, or read by someone else, before any counted poll emitted it is excused from "lost" (the
 * trigger watches unread mail in the folder), never from "duplicated". With an after-emit action,
 * the action reaches only mail n8n had (after every step), and every emitted message by the end.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { IDataObject, INodeParameters } from 'n8n-workflow';

import { seeded } from '../fixtures/mutate';
import { count } from '../harness/count';
import {
	CredentialStore,
	discardingPoll,
	durablePoll,
	type DurableDatabase,
	pollTrigger,
	restartN8n,
	triggerNode,
} from '../harness/n8n';
import {
	appendMails,
	CuttingProxy,
	expungeMails,
	freshFolder,
	killImapProcesses,
	listFolder,
	recreateFolder,
	testImap,
	type TestMail,
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

type AfterEmit = 'none' | 'markRead' | 'move';

/** The steps of a schedule, and how often each is drawn after the first of each. */
const WEIGHTS = {
	mail: 4,
	poll: 4,
	'mail during a poll': 2,
	burst: 1,
	'overlapping polls': 1,
	'result not kept': 1,
	restart: 1,
	're-publish': 1,
	cut: 2,
	kill: 1,
	expunge: 1,
	'read by someone else': 1,
	'Fetch Test Event': 1,
	'folder rebuilt': 1,
};
type Kind = keyof typeof WEIGHTS;
type N8nModel = 'classic' | 'durable';

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

interface Outcome {
	sent: string[];
	seen: string[];
	excused: Set<string>;
	steps: string[];
	cuts: number;
	/** Items of polls whose result n8n discarded or never committed. */
	dropped: number;
}

async function schedule(seed: number, afterEmit: AfterEmit, model: N8nModel): Promise<Outcome> {
	const random = seeded(seed);
	const below = (n: number) => Math.floor(random() * n);
	const folder = await freshFolder(`chaos-${seed}`);
	const archive = afterEmit === 'move' ? await freshFolder(`chaos-${seed}-archive`) : undefined;
	const tag = `${seed}-${afterEmit}-${model}`;
	const parameters = (maxMessages: number): INodeParameters => ({
		afterEmit,
		maxMessages,
		output: below(2) ? 'full' : 'simple',
		...(archive ? { moveTo: { __rl: true, mode: 'path', value: archive } } : {}),
	});
	let node = triggerNode(folder, parameters(20), 'chaos', 'imap');

	// n8n's database in either model; a poll returns the subjects n8n hands a run.
	const classic: IDataObject = {};
	const durable: DurableDatabase = { global: {} };
	let activating = true;
	const poll = async (): Promise<string[]> => {
		const items =
			model === 'classic'
				? await pollTrigger(node, store, classic)
				: await durablePoll(node, store, durable, activating);
		activating = false;
		return items.map((item) => String(item.json.subject));
	};

	const sent: string[] = [];
	const seen: string[] = [];
	const excused = new Set<string>();
	const steps: string[] = [];
	let dropped = 0;
	const cutsBefore = proxy.cuts;

	const counted = async (run: () => Promise<string[]>): Promise<void> => {
		try {
			seen.push(...(await run()));
		} catch {
			// A failed execution: nothing reached a run.
		}
	};
	const newMail = (length = 1 + below(6)): TestMail[] =>
		Array.from({ length }, () => {
			const subject = `${tag} #${sent.length}`;
			sent.push(subject);
			// One in four over 64 KB: the simple output reads those by structure, and a poll of 20 or
			// more with both sizes (a burst) reads them and the small ones in one write, by our own
			// reader (transport/imap/simple.ts, bulk.ts).
			return { subject, text: 'x'.repeat([200, 200, 40_000, 100_000][below(4)]) };
		});
	// What only someone else did to a message may excuse it; what our action did may not.
	const notYetSeen = async () =>
		(await listFolder(folder)).filter(
			(m) => !seen.includes(m.subject) && !m.flags.includes('\\Seen'),
		);
	/** The after-emit action reached only mail a counted poll had emitted. */
	const actedOnlyOnEmitted = async () => {
		if (afterEmit === 'none') return;
		const acted =
			afterEmit === 'move'
				? await listFolder(archive!)
				: (await listFolder(folder)).filter((m) => m.flags.includes('\\Seen'));
		for (const m of acted) {
			if (excused.has(m.subject)) continue;
			assert.ok(seen.includes(m.subject), `${m.subject} was acted on before n8n had it`);
		}
	};

	await poll(); // the activation: "start from now"

	// Every kind of step at least once, the rest drawn by weight, all in a random order.
	const kinds = Object.keys(WEIGHTS) as Kind[];
	const plan = [...kinds];
	const weighted = kinds.flatMap((kind) => Array<Kind>(WEIGHTS[kind]).fill(kind));
	while (plan.length < 32) plan.push(weighted[below(weighted.length)]);
	for (let i = plan.length - 1; i > 0; i--) {
		const j = below(i + 1);
		[plan[i], plan[j]] = [plan[j], plan[i]];
	}
	const victim = async () => {
		let waiting = await notYetSeen();
		if (waiting.length === 0) {
			await appendMails(folder, newMail());
			waiting = await notYetSeen();
		}
		const chosen = waiting[below(waiting.length)];
		excused.add(chosen.subject);
		return chosen;
	};

	for (const kind of plan) {
		switch (kind) {
			case 'mail':
				steps.push('mail');
				await appendMails(folder, newMail());
				break;
			case 'burst': {
				const mail = newMail(21 + below(10));
				steps.push(`burst of ${mail.length}`);
				await appendMails(folder, mail);
				break;
			}
			case 'poll':
				steps.push('poll');
				await counted(poll);
				break;
			case 'mail during a poll': {
				steps.push(kind);
				const mail = newMail();
				await Promise.all([counted(poll), appendMails(folder, mail)]);
				break;
			}
			case 'overlapping polls':
				steps.push(kind);
				await Promise.all([counted(poll), counted(poll)]);
				break;
			case 'result not kept': {
				// n8n discards the result (classic: superseded meanwhile), or dies before it commits it.
				steps.push(
					model === 'classic' ? 'mail, discarded poll' : 'mail, n8n killed before the commit',
				);
				await appendMails(folder, newMail());
				const database = JSON.stringify(durable);
				try {
					if (model === 'classic') dropped += (await discardingPoll(node, store, classic)).length;
					else dropped += (await poll()).length;
				} catch {
					// lost with the result either way
				}
				if (model === 'durable') {
					delete durable.cursor;
					Object.assign(durable, JSON.parse(database));
					activating = true;
				}
				break;
			}
			case 'restart':
				steps.push(kind);
				if (model === 'classic') restartN8n(classic);
				else activating = true;
				break;
			case 're-publish':
				steps.push(kind);
				node = triggerNode(folder, parameters([3, 20, 50][below(3)]), 'chaos', 'imap');
				if (model === 'durable') activating = true;
				break;
			case 'cut': {
				const bytes = 2_000 + below(150_000);
				steps.push(`cut after ${bytes} bytes`);
				proxy.cutNextAfter(bytes);
				await counted(poll);
				proxy.disarm();
				break;
			}
			case 'kill':
				steps.push('IMAP processes killed');
				killImapProcesses();
				break;
			case 'expunge': {
				const chosen = await victim();
				steps.push(`expunged ${chosen.subject}`);
				await expungeMails(folder, [chosen.uid]);
				break;
			}
			case 'read by someone else': {
				const chosen = await victim();
				steps.push(`read by someone else: ${chosen.subject}`);
				await readByOther(folder, [chosen.uid]);
				break;
			}
			case 'folder rebuilt':
				const reverse = below(2) === 1;
				const validity = await recreateFolder(folder, reverse);
				steps.push(`folder rebuilt${reverse ? ' in reverse' : ''} (UIDVALIDITY ${validity})`);
				break;
			case 'Fetch Test Event':
				// A manual run: its own Workflow from the database, never saved.
				steps.push(kind);
				await pollTrigger(
					node,
					store,
					model === 'classic' ? classic : (durable.cursor ?? {}),
					'manual',
				);
				break;
		}
		await actedOnlyOnEmitted();
	}

	// The faults stop: polls until three in a row bring nothing (owed actions are applied by then).
	proxy.disarm();
	for (let quiet = 0, polls = 0; quiet < 3 && polls < 40; polls++) {
		const before = seen.length;
		await counted(poll);
		quiet = seen.length === before ? quiet + 1 : 0;
	}
	await actedOnlyOnEmitted();
	if (afterEmit !== 'none') {
		const emitted = new Set(seen);
		const left = await listFolder(folder);
		if (afterEmit === 'markRead') {
			const unread = left.filter((m) => emitted.has(m.subject) && !m.flags.includes('\\Seen'));
			assert.deepEqual(unread, [], 'every emitted message is marked read');
		} else {
			const stayed = left.filter((m) => emitted.has(m.subject));
			assert.deepEqual(stayed, [], 'every emitted message is moved');
			const moved = (await listFolder(archive!)).map((m) => m.subject).sort();
			assert.deepEqual(moved, [...emitted].sort());
		}
	}
	return { sent, seen, excused, steps, dropped, cuts: proxy.cuts - cutsBefore };
}

describe('trigger over IMAP: faults at random, together, counted', () => {
	const runs: Array<[number, AfterEmit, N8nModel]> = [
		[1, 'none', 'classic'],
		[2, 'markRead', 'classic'],
		[3, 'move', 'classic'],
		[4, 'none', 'durable'],
		[5, 'markRead', 'durable'],
		[6, 'move', 'durable'],
	];
	const totals = { sent: 0, cuts: 0 };

	for (const [seed, afterEmit, model] of runs) {
		it(`seed ${seed}, after emitting "${afterEmit}", n8n ${model === 'classic' ? 'as 2.41 runs polls' : 'with durable cursors'}: 0 lost, 0 duplicated`, async () => {
			const outcome = await schedule(seed, afterEmit, model);
			const expected = outcome.sent.filter((s) => !outcome.excused.has(s));
			const { lost, duplicated } = count(expected, outcome.seen);
			const unknown = outcome.seen.filter((s) => !outcome.sent.includes(s));
			const story = `steps: ${outcome.steps.join('; ')}`;
			assert.deepEqual(
				{ lost, duplicated, unknown },
				{ lost: [], duplicated: [], unknown: [] },
				story,
			);
			assert.ok(outcome.dropped > 0, `a result n8n did not keep held mail: ${story}`);
			totals.sent += outcome.sent.length;
			totals.cuts += outcome.cuts;
		});
	}

	it('the schedules did what they are for: enough mail, and connections cut mid-download', () => {
		assert.ok(totals.sent >= 50, `mail sent: ${totals.sent}`);
		assert.ok(totals.cuts >= 2, `connections cut mid-download: ${totals.cuts}`);
	});
});

/**
 * Faults at random, together, over Microsoft Graph (the emulator), as chaos.test.ts mixes them over
 * IMAP. Each fault has a test of its own in graph.test.ts; here seeded schedules mix them: new mail
 * (some while a poll runs, some in bursts received in the same second), scheduled and overlapping
 * polls, results n8n discards, restarts, re-publishes with other parameters, requests that fail past
 * the client's retries, dropped connections, a delta state Graph no longer knows (410), a delta round
 * answered again (Graph's documented replays), mail moved away by a rule or read in Outlook before
 * the trigger saw it, the folder deleted and created again, and "Fetch Test Event". n8n is the
 * harness's model of n8n 2.41 (one Workflow per activation, static data saved at an emit), or of its
 * durable cursors (queue mode); every kind of step comes at least once.
 *
 * Each schedule counts: lost and duplicated messages are both 0. A message moved away, read by
 * someone else, or deleted with its folder before any counted poll emitted it is excused from
 * "lost", never from "duplicated". With an after-emit action, the action reaches only mail n8n had
 * (after every step), and every emitted message by the end.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';

import type { IDataObject, INodeParameters } from 'n8n-workflow';

import { seeded } from '../fixtures/mutate';
import { count } from '../harness/count';
import {
	graphCounts,
	graphDeliver,
	graphDrop,
	graphExpireDelta,
	graphFolder,
	graphInject,
	graphList,
	graphMoveByRule,
	graphRecreateFolder,
	graphReplayDelta,
	GRAPH_SCOPES,
} from '../harness/graph';
import {
	CredentialStore,
	discardingPoll,
	durablePoll,
	type DurableDatabase,
	pollTrigger,
	restartN8n,
	runActionNode,
	triggerNode,
} from '../harness/n8n';
import type { TestMail } from '../harness/mail';
import { delegatedCredential, signIn } from '../harness/stack';

const ALICE = 'alice@example.test';
const store = new CredentialStore();

before(async () => {
	store.set('chaos', delegatedCredential(await signIn(ALICE, GRAPH_SCOPES), { access: 'graph' }));
});

type AfterEmit = 'none' | 'markRead' | 'move';

/** The steps of a schedule, and how often each is drawn after the first of each. */
const WEIGHTS = {
	mail: 4,
	burst: 1,
	poll: 4,
	'mail during a poll': 2,
	'overlapping polls': 1,
	'result not kept': 1,
	restart: 1,
	're-publish': 1,
	'failures past the retries': 2,
	'dropped connection': 1,
	'delta state expired': 1,
	'delta round replayed': 1,
	'moved by a rule': 1,
	'read by someone else': 1,
	'folder created again': 1,
	'Fetch Test Event': 1,
};
type Kind = keyof typeof WEIGHTS;
type N8nModel = 'classic' | 'durable';

interface Outcome {
	sent: string[];
	seen: string[];
	excused: Set<string>;
	steps: string[];
	/** Items of polls whose result n8n discarded or never committed. */
	dropped: number;
	/** Injected failures Graph answered, and connections it dropped. */
	failed: number;
}

async function freshGraphFolder(prefix: string): Promise<string> {
	const path = `Inbox/${prefix}-${randomUUID().slice(0, 8)}`;
	await graphFolder(ALICE, path);
	return path;
}

/** Someone reads a message in Outlook (the action node, as anyone's client would). */
async function readInOutlook(id: string): Promise<void> {
	for (let attempt = 0; ; attempt++) {
		try {
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
			return;
		} catch (error) {
			// Failures a step before injected can still be waiting for the next requests.
			if (attempt === 3) throw error;
		}
	}
}

async function schedule(seed: number, afterEmit: AfterEmit, model: N8nModel): Promise<Outcome> {
	const random = seeded(seed);
	const below = (n: number) => Math.floor(random() * n);
	const folder = await freshGraphFolder(`gchaos-${seed}`);
	const elsewhere = await freshGraphFolder(`gchaos-${seed}-rules`);
	const archive =
		afterEmit === 'move' ? await freshGraphFolder(`gchaos-${seed}-archive`) : undefined;
	const tag = `g${seed}-${afterEmit}-${model}`;
	const parameters = (maxMessages: number): INodeParameters => ({
		afterEmit,
		maxMessages,
		output: ['simple', 'full', 'raw'][below(3)],
		...(archive ? { moveTo: { __rl: true, mode: 'path', value: archive } } : {}),
	});
	let node = triggerNode(folder, parameters(20), 'chaos', 'graph');

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
	const counts = await graphCounts();
	const failedBefore = (counts.FAILED ?? 0) + (counts.DROPPED ?? 0);

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
			return { subject, text: 'x'.repeat([200, 200, 40_000][below(3)]) };
		});
	const deliver = async (mail: TestMail[], at?: string) => {
		for (const m of mail) await graphDeliver(ALICE, m, folder, at);
	};
	// What only someone else did to a message may excuse it; what our action did may not.
	const notYetSeen = async () =>
		(await graphList(ALICE, folder)).filter((m) => !seen.includes(m.subject) && !m.isRead);
	const victim = async () => {
		let waiting = await notYetSeen();
		if (waiting.length === 0) {
			await deliver(newMail());
			waiting = await notYetSeen();
		}
		const chosen = waiting[below(waiting.length)];
		excused.add(chosen.subject);
		return chosen;
	};
	/** The after-emit action reached only mail a counted poll had emitted. */
	const actedOnlyOnEmitted = async () => {
		if (afterEmit === 'none') return;
		const acted =
			afterEmit === 'move'
				? await graphList(ALICE, archive!)
				: (await graphList(ALICE, folder)).filter((m) => m.isRead);
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

	for (const kind of plan) {
		switch (kind) {
			case 'mail':
				steps.push('mail');
				await deliver(newMail());
				break;
			case 'burst': {
				// Received in the same second: Graph orders them by nothing documented.
				const mail = newMail(21 + below(10));
				steps.push(`burst of ${mail.length}`);
				await deliver(mail, new Date().toISOString());
				break;
			}
			case 'poll':
				steps.push('poll');
				await counted(poll);
				break;
			case 'mail during a poll': {
				steps.push(kind);
				await Promise.all([counted(poll), deliver(newMail())]);
				break;
			}
			case 'overlapping polls':
				steps.push(kind);
				await Promise.all([counted(poll), counted(poll)]);
				break;
			case 'result not kept': {
				steps.push(
					model === 'classic' ? 'mail, discarded poll' : 'mail, n8n killed before the commit',
				);
				await deliver(newMail());
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
				node = triggerNode(folder, parameters([3, 20, 50][below(3)]), 'chaos', 'graph');
				if (model === 'durable') activating = true;
				break;
			case 'failures past the retries': {
				// New mail first, so that the failures can fall on its delta page, its bodies or the
				// actions owed before it.
				await deliver(newMail());
				const after = below(4);
				steps.push(`mail, then five 503s after ${after} requests`);
				const failed = async () => (await graphCounts()).FAILED ?? 0;
				const before = await failed();
				await graphInject(503, 5, '0', undefined, after);
				// Scheduled polls until all five were answered (an idle poll makes one request), so none
				// is left for a later step.
				for (let polls = 0; polls < 10 && (await failed()) < before + 5; polls++)
					await counted(poll);
				assert.equal(await failed(), before + 5, 'the five failures were answered');
				break;
			}
			case 'dropped connection': {
				steps.push('a connection dropped');
				await graphDrop(1);
				await counted(poll);
				break;
			}
			case 'delta state expired':
				steps.push(kind);
				await graphExpireDelta();
				break;
			case 'delta round replayed':
				steps.push(kind);
				await graphReplayDelta(1);
				break;
			case 'moved by a rule': {
				const chosen = await victim();
				steps.push(`moved by a rule: ${chosen.subject}`);
				await graphMoveByRule(ALICE, chosen.id, elsewhere);
				break;
			}
			case 'read by someone else': {
				const chosen = await victim();
				steps.push(`read by someone else: ${chosen.subject}`);
				await readInOutlook(chosen.id);
				break;
			}
			case 'folder created again': {
				// Deleted for good with its mail, and made again under the same path (a new id).
				for (const m of await notYetSeen()) excused.add(m.subject);
				steps.push(kind);
				await graphRecreateFolder(ALICE, folder);
				break;
			}
			case 'Fetch Test Event':
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
	for (let quiet = 0, polls = 0; quiet < 3 && polls < 40; polls++) {
		const before = seen.length;
		await counted(poll);
		quiet = seen.length === before ? quiet + 1 : 0;
	}
	await actedOnlyOnEmitted();
	if (afterEmit !== 'none') {
		const emitted = new Set(seen);
		const left = await graphList(ALICE, folder);
		if (afterEmit === 'markRead') {
			const unread = left.filter((m) => emitted.has(m.subject) && !m.isRead);
			assert.deepEqual(unread, [], 'every emitted message is marked read');
		} else {
			const stayed = left.filter((m) => emitted.has(m.subject));
			assert.deepEqual(stayed, [], 'every emitted message is moved');
		}
	}
	const after = await graphCounts();
	const failed = (after.FAILED ?? 0) + (after.DROPPED ?? 0) - failedBefore;
	return { sent, seen, excused, steps, dropped, failed };
}

describe('trigger over Graph: faults at random, together, counted', () => {
	const runs: Array<[number, AfterEmit, N8nModel]> = [
		[11, 'none', 'classic'],
		[12, 'markRead', 'classic'],
		[13, 'move', 'classic'],
		[14, 'none', 'durable'],
		[15, 'markRead', 'durable'],
		[16, 'move', 'durable'],
	];
	const totals = { sent: 0, failed: 0, excused: 0 };

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
			totals.failed += outcome.failed;
			totals.excused += outcome.excused.size;
		});
	}

	it('the schedules did what they are for: enough mail, failed requests, mail excused', () => {
		assert.ok(totals.sent >= 100, `mail sent: ${totals.sent}`);
		assert.ok(totals.failed >= 12, `requests failed or dropped: ${totals.failed}`);
		assert.ok(totals.excused >= 6, `mail moved, read or deleted by others: ${totals.excused}`);
	});
});

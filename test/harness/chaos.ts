/**
 * Seeded fault schedules, shared by the IMAP trigger's (test/integration/chaos.test.ts) and the
 * Graph trigger's (test/integration/graph-chaos.test.ts). A schedule draws its steps from weights
 * (every kind at least once, then by weight, 32 in a random order), runs the steps both protocols
 * share here and hands the others to the test, then polls until three polls in a row bring nothing.
 * It counts what n8n had: the subjects of the polls whose result n8n kept, in its classic model
 * (one Workflow per activation, static data saved at an emit) or with durable cursors (queue mode).
 * After every step, an after-emit action must have reached only mail n8n had; at the end, every
 * emitted message.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';

import type { IDataObject, INodeParameters } from 'n8n-workflow';

import { seeded } from '../fixtures/mutate';
import { count } from './count';
import type { TestMail } from './mail';
import {
	type CredentialStore,
	discardingPoll,
	durablePoll,
	type DurableDatabase,
	pollTrigger,
	restartN8n,
	triggerNode,
} from './n8n';

export type AfterEmit = 'none' | 'markRead' | 'move';
export type N8nModel = 'classic' | 'durable';

/** The steps both protocols have, run here, and how often each is drawn after the first of each. */
export const SHARED_WEIGHTS = {
	mail: 4,
	burst: 1,
	poll: 4,
	'mail during a poll': 2,
	'overlapping polls': 1,
	'result not kept': 1,
	restart: 1,
	're-publish': 1,
	'Fetch Test Event': 1,
};
type Shared = keyof typeof SHARED_WEIGHTS;

/** A message of a folder as a schedule sees it. */
export interface Listed {
	subject: string;
	read: boolean;
}

/** What a test's own steps may use of the schedule running them. */
export interface Schedule<M extends Listed> {
	below(n: number): number;
	steps: string[];
	/** Subjects excused from "lost": someone else moved, read or deleted them before any emit. */
	excused: Set<string>;
	newMail(length?: number): TestMail[];
	/** A poll whose failure is a failed execution: its subjects count when n8n kept them. */
	counted(run: () => Promise<string[]>): Promise<void>;
	poll(): Promise<string[]>;
	/** An unread message no counted poll has emitted (new mail if there is none), now excused. */
	victim(): Promise<M>;
	/** Unread messages of the folder no counted poll has emitted. */
	notYetSeen(): Promise<M[]>;
}

/** Which schedule: its seed, the after-emit action and n8n's model. */
export interface ScheduleRun {
	seed: number;
	afterEmit: AfterEmit;
	model: N8nModel;
}

export interface ChaosSpec<M extends Listed, K extends string> extends ScheduleRun {
	protocol: 'imap' | 'graph';
	store: CredentialStore;
	credential: string;
	folder: string;
	/** The folder "move" moves to. */
	archive?: string;
	/** What each subject starts with. */
	tag: string;
	/** The outputs a publish draws from. */
	outputs: string[];
	/** The lengths of text new mail draws from. */
	sizes: number[];
	/** How often each step is drawn after the first of each: SHARED_WEIGHTS and the test's own. */
	weights: Record<Shared | K, number>;
	list(folder: string): Promise<M[]>;
	/** Delivers to the watched folder; a burst's messages are received at `at`. */
	deliver(mail: TestMail[], at?: string): Promise<void>;
	/** Runs one of the test's own steps. */
	step(kind: K, schedule: Schedule<M>): Promise<void>;
	/** The faults stop (before the last polls). */
	calm?(): void;
	/** Checks of the end, with the subjects n8n had. */
	end?(emitted: Set<string>): Promise<void>;
}

export interface Outcome {
	sent: string[];
	seen: string[];
	excused: Set<string>;
	steps: string[];
	/** Items of polls whose result n8n discarded or never committed. */
	dropped: number;
}

export async function runSchedule<M extends Listed, K extends string>(
	spec: ChaosSpec<M, K>,
): Promise<Outcome> {
	const { afterEmit, model, store, folder, archive } = spec;
	const random = seeded(spec.seed);
	const below = (n: number) => Math.floor(random() * n);
	const parameters = (maxMessages: number): INodeParameters => ({
		afterEmit,
		maxMessages,
		output: spec.outputs[below(spec.outputs.length)],
		...(archive ? { moveTo: { __rl: true, mode: 'path', value: archive } } : {}),
	});
	let node = triggerNode(folder, parameters(20), spec.credential, spec.protocol);

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

	const counted = async (run: () => Promise<string[]>): Promise<void> => {
		try {
			seen.push(...(await run()));
		} catch {
			// A failed execution: nothing reached a run.
		}
	};
	const newMail = (length = 1 + below(6)): TestMail[] =>
		Array.from({ length }, () => {
			const subject = `${spec.tag} #${sent.length}`;
			sent.push(subject);
			return { subject, text: 'x'.repeat(spec.sizes[below(spec.sizes.length)]) };
		});
	// What only someone else did to a message may excuse it; what our action did may not.
	const notYetSeen = async () =>
		(await spec.list(folder)).filter((m) => !seen.includes(m.subject) && !m.read);
	const victim = async () => {
		let waiting = await notYetSeen();
		if (waiting.length === 0) {
			await spec.deliver(newMail());
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
				? await spec.list(archive!)
				: (await spec.list(folder)).filter((m) => m.read);
		for (const m of acted) {
			if (excused.has(m.subject)) continue;
			assert.ok(seen.includes(m.subject), `${m.subject} was acted on before n8n had it`);
		}
	};
	const schedule: Schedule<M> = {
		below,
		steps,
		excused,
		newMail,
		counted,
		poll,
		victim,
		notYetSeen,
	};

	await poll(); // the activation: "start from now"

	// Every kind of step at least once, the rest drawn by weight, all in a random order.
	const kinds = Object.keys(spec.weights) as Array<Shared | K>;
	const plan = [...kinds];
	const weighted = kinds.flatMap((kind) => Array<Shared | K>(spec.weights[kind]).fill(kind));
	while (plan.length < 32) plan.push(weighted[below(weighted.length)]);
	for (let i = plan.length - 1; i > 0; i--) {
		const j = below(i + 1);
		[plan[i], plan[j]] = [plan[j], plan[i]];
	}

	for (const kind of plan) {
		switch (kind as Shared) {
			case 'mail':
				steps.push('mail');
				await spec.deliver(newMail());
				break;
			case 'burst': {
				// More than a poll takes, received in the same second.
				const mail = newMail(21 + below(10));
				steps.push(`burst of ${mail.length}`);
				await spec.deliver(mail, new Date().toISOString());
				break;
			}
			case 'poll':
				steps.push('poll');
				await counted(poll);
				break;
			case 'mail during a poll': {
				steps.push(kind);
				const mail = newMail();
				await Promise.all([counted(poll), spec.deliver(mail)]);
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
				await spec.deliver(newMail());
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
				node = triggerNode(
					folder,
					parameters([3, 20, 50][below(3)]),
					spec.credential,
					spec.protocol,
				);
				if (model === 'durable') activating = true;
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
			default:
				await spec.step(kind as K, schedule);
		}
		await actedOnlyOnEmitted();
	}

	// The faults stop: polls until three in a row bring nothing (owed actions are applied by then).
	spec.calm?.();
	for (let quiet = 0, polls = 0; quiet < 3 && polls < 40; polls++) {
		const before = seen.length;
		await counted(poll);
		quiet = seen.length === before ? quiet + 1 : 0;
	}
	await actedOnlyOnEmitted();
	const emitted = new Set(seen);
	const left = await spec.list(folder);
	if (afterEmit === 'markRead') {
		const unread = left.filter((m) => emitted.has(m.subject) && !m.read);
		assert.deepEqual(unread, [], 'every emitted message is marked read');
	} else if (afterEmit === 'move') {
		const stayed = left.filter((m) => emitted.has(m.subject));
		assert.deepEqual(stayed, [], 'every emitted message is moved');
	}
	await spec.end?.(emitted);
	return { sent, seen, excused, steps, dropped };
}

/** 0 lost (save the excused), 0 duplicated, nothing unknown, and a result n8n did not keep held mail. */
function assertCounted(outcome: Outcome): void {
	const expected = outcome.sent.filter((s) => !outcome.excused.has(s));
	const { lost, duplicated } = count(expected, outcome.seen);
	const unknown = outcome.seen.filter((s) => !outcome.sent.includes(s));
	const story = `steps: ${outcome.steps.join('; ')}`;
	assert.deepEqual({ lost, duplicated, unknown }, { lost: [], duplicated: [], unknown: [] }, story);
	assert.ok(outcome.dropped > 0, `a result n8n did not keep held mail: ${story}`);
}

const SCHEDULE_RUNS: Array<[AfterEmit, N8nModel]> = [
	['none', 'classic'],
	['markRead', 'classic'],
	['move', 'classic'],
	['none', 'durable'],
	['markRead', 'durable'],
	['move', 'durable'],
];

/**
 * One test per after-emit action and n8n model, seeds from `firstSeed`: each runs its schedule,
 * asserts it counted 0 lost and 0 duplicated, and hands the outcome to `tally`.
 */
export function itEachSchedule<O extends Outcome>(
	firstSeed: number,
	run: (run: ScheduleRun) => Promise<O>,
	tally: (outcome: O) => void,
): void {
	for (const [i, [afterEmit, model]] of SCHEDULE_RUNS.entries()) {
		const seed = firstSeed + i;
		const n8n = model === 'classic' ? 'as 2.41 runs polls' : 'with durable cursors';
		it(`seed ${seed}, after emitting "${afterEmit}", n8n ${n8n}: 0 lost, 0 duplicated`, async () => {
			const outcome = await run({ seed, afterEmit, model });
			assertCounted(outcome);
			tally(outcome);
		});
	}
}

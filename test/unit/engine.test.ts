/**
 * The delivery engine with a scripted source: the rules that do not need a server (state written
 * where n8n's change tracking sees it, single flight, the ledger's bound, bounded passing trouble,
 * the commit check against a poll that finished first).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Workflow, type IDataObject, type INodeTypes } from 'n8n-workflow';

import { MailServiceError } from '../../nodes/M365Mail/transport/auth/errors';
import type { FetchedMessage } from '../../nodes/M365Mail/transport/types';
import { deliver, LEDGER_LIMIT, type DeliveryOptions } from '../../nodes/M365Mail/trigger/engine';
import type { FolderState } from '../../nodes/M365Mail/trigger/state';
import type { MailSource, NextRequest } from '../../nodes/M365Mail/transport/mailbox';

function message(n: number): FetchedMessage {
	return {
		message: { id: `m${n}`, messageId: `<m${n}@x>`, subject: `s${n}` } as FetchedMessage['message'],
		attachments: [],
	};
}

/** A folder of numbered messages; the cursor is the last number emitted. */
class ScriptedSource implements MailSource<number> {
	arrived = 0;
	unread = new Set<string>();
	applied: string[] = [];
	failWith?: Error;
	gate?: Promise<void>;

	/** When each message arrived (epoch ms), by number. */
	arrivedAt: number[] = [];
	clock = 0;

	arrive(count: number): void {
		for (let i = 0; i < count; i++) {
			this.unread.add(`m${++this.arrived}`);
			this.arrivedAt[this.arrived] = this.clock;
		}
	}
	async sample() {
		return undefined;
	}
	async next(cursor: number | undefined, request: { maxMessages: number; startedAt?: Date }) {
		await this.gate;
		if (this.failWith) throw this.failWith;
		if (cursor === undefined && request.startedAt) {
			// Mail received since then is new: start before the first message that arrived since.
			const since = request.startedAt.getTime();
			cursor = 0;
			while (cursor < this.arrived && this.arrivedAt[cursor + 1] < since) cursor++;
		}
		if (cursor === undefined)
			return { messages: [], cursor: this.arrived, more: false, skipped: [], baseline: true };
		const to = Math.min(this.arrived, cursor + request.maxMessages);
		const messages = [];
		for (let n = cursor + 1; n <= to; n++) messages.push(message(n));
		return { messages, cursor: to, more: to < this.arrived, skipped: [] };
	}
	async apply(_action: unknown, ids: string[]) {
		this.applied.push(...ids);
	}
	async stillUnread(ids: string[]) {
		return new Map(ids.filter((id) => this.unread.has(id)).map((id) => [id, id]));
	}
	async fetch(ids: string[]) {
		return ids.map((id) => message(Number(id.slice(1))));
	}
}

const options = (extra: Partial<DeliveryOptions> = {}): DeliveryOptions => ({
	afterEmit: { action: 'markRead' },
	startFrom: 'now',
	maxMessages: 5000,
	maxBytes: 64 * 1024 * 1024,
	budgetMs: 60_000,
	redeliverAfterMs: 0,
	maxAttempts: 3,
	...extra,
});

const log = { warn: () => undefined, debug: () => undefined };

/** Node static data as n8n 2.41 hands it out: wrapped by ObservableObject inside a Workflow. */
function nodeStaticData(fromDatabase: IDataObject = {}) {
	const workflow = new Workflow({
		id: 'wf',
		nodes: [
			{
				id: 'n',
				name: 'Trigger',
				type: 'x',
				typeVersion: 1,
				position: [0, 0],
				parameters: {},
			},
		],
		connections: {},
		active: true,
		nodeTypes: {
			getByNameAndVersion: () => ({ description: { properties: [] } }),
		} as unknown as INodeTypes,
		staticData: { 'node:Trigger': fromDatabase },
	});
	const data = workflow.getStaticData('node', workflow.getNode('Trigger')!);
	const root = workflow.staticData as IDataObject & { __dataChanged?: boolean };
	return {
		data,
		changed: () => root.__dataChanged === true,
		reset: () => (root.__dataChanged = false),
	};
}

/** One poll; `undefined` when another runs; a failure is thrown as the node would, with its trouble. */
async function run<C>(
	source: MailSource<C>,
	staticData: IDataObject,
	extra: Partial<DeliveryOptions> = {},
	flightKey = 'wf:n',
	global?: IDataObject,
) {
	const result = await deliver({
		flightKey,
		staticData,
		starts: global ? { data: global, key: 'n|box|inbox' } : undefined,
		key: 'box|inbox',
		source,
		options: options(extra),
		build: async (m, delivery) => ({ id: m.message.id, attempt: delivery.attempt }),
		log,
	});
	if (result.kind === 'busy') return undefined;
	if (result.kind === 'failed')
		throw Object.assign(new Error((result.error as Error).message), { trouble: result.trouble });
	return result.items;
}

/** One poll as the engine answers it (the instant trigger reads `lookAgainInMs` from it). */
async function outcome(source: ScriptedSource, staticData: IDataObject) {
	return await deliver({
		flightKey: 'wf:n',
		staticData,
		key: 'box|inbox',
		source,
		options: options(),
		build: async (m) => ({ id: m.message.id, attempt: 0 }),
		log,
	});
}

describe('delivery engine', () => {
	it('every state change is seen by n8n’s change tracking, also on static data loaded from the database', async () => {
		const source = new ScriptedSource();
		const fresh = nodeStaticData();
		await run(source, fresh.data);
		assert.ok(fresh.changed());
		fresh.reset();
		source.arrive(2);
		assert.deepEqual(await run(source, fresh.data), [
			{ id: 'm1', attempt: 1 },
			{ id: 'm2', attempt: 1 },
		]);
		assert.ok(fresh.changed(), 'the cursor moved: n8n must save it at the emit');
		// The same after a restart: static data rebuilt from what the database holds.
		const reloaded = nodeStaticData(JSON.parse(JSON.stringify(fresh.data)));
		source.arrive(1);
		assert.deepEqual(await run(source, reloaded.data), [{ id: 'm3', attempt: 1 }]);
		assert.ok(reloaded.changed());
		assert.deepEqual(
			source.applied,
			['m1', 'm2'],
			'owed actions of the previous emit, applied first',
		);
	});

	it('single flight: a poll that starts while another runs returns undefined and changes nothing', async () => {
		const source = new ScriptedSource();
		const { data } = nodeStaticData();
		await run(source, data);
		source.arrive(3);
		let open!: () => void;
		source.gate = new Promise((r) => (open = r));
		const first = run(source, data);
		const before = JSON.stringify(data);
		assert.equal(await run(source, data), undefined);
		assert.equal(JSON.stringify(data), before);
		open();
		assert.equal((await first)?.length, 3);
	});

	it('the at-least-once ledger follows at most LEDGER_LIMIT messages', async () => {
		const source = new ScriptedSource();
		const { data } = nodeStaticData();
		const extra = { afterEmit: { action: 'none' as const }, redeliverAfterMs: 3_600_000 };
		await run(source, data, extra);
		source.arrive(LEDGER_LIMIT + 25);
		assert.equal((await run(source, data, extra))?.length, LEDGER_LIMIT + 25);
		const folders = data.folders as Record<string, { ledger: Array<{ id: string }> }>;
		const ledger = folders['box|inbox'].ledger;
		assert.equal(ledger.length, LEDGER_LIMIT);
		assert.equal(ledger[0].id, 'm26', 'the oldest are dropped');
	});

	it('passing trouble: logged twice, thrown from the third poll in a row, forgotten after a good poll; the instant trigger is told to look again in 10 s, then 20 s', async () => {
		const source = new ScriptedSource();
		const { data } = nodeStaticData();
		await run(source, data);
		source.failWith = new MailServiceError('socket closed', 'try again', 'network');
		for (const lookAgainInMs of [10_000, 20_000]) {
			const result = await outcome(source, data);
			assert.deepEqual(result, { kind: 'items', items: [], lookAgainInMs });
		}
		await assert.rejects(
			run(source, data),
			(e: { trouble?: { count: number } }) => e.trouble?.count === 3,
		);
		source.failWith = undefined;
		source.arrive(1);
		assert.equal((await run(source, data))?.length, 1);
		source.failWith = new MailServiceError('socket closed', 'try again', 'network');
		assert.deepEqual(await run(source, data), [], 'the count started again');
	});

	it('passing trouble from throttling: the instant trigger is not told to look again sooner', async () => {
		const source = new ScriptedSource();
		const { data } = nodeStaticData();
		await run(source, data);
		source.failWith = new MailServiceError('too many requests', 'wait', 'throttled');
		const result = await outcome(source, data);
		assert.deepEqual(result, { kind: 'items', items: [] });
	});

	it('trouble the user must act on is thrown at once', async () => {
		const source = new ScriptedSource();
		const { data } = nodeStaticData();
		await run(source, data);
		source.failWith = new MailServiceError('consent missing', 'grant it', 'consent');
		await assert.rejects(run(source, data), /consent missing/);
	});

	it('a poll that finishes after another poll committed (past the single-flight guard) emits nothing and keeps the newer state', async () => {
		const source = new ScriptedSource();
		const { data } = nodeStaticData();
		await run(source, data);
		source.arrive(2);
		let open!: () => void;
		source.gate = new Promise((r) => (open = r));
		const stale = run(source, data, {}, 'wf:n:old-activation');
		source.gate = undefined;
		assert.equal((await run(source, data))?.length, 2);
		const committed = JSON.stringify(data);
		open();
		assert.deepEqual(await stale, []);
		assert.equal(JSON.stringify(data), committed);
	});
});

describe('delivery engine: "start from now" when the first starting point is dropped', () => {
	it('a poll with no cursor starts from when the first poll began (n8n’s durable cursors drop the activation poll’s node data), then forgets that moment', async () => {
		const source = new ScriptedSource();
		const global: IDataObject = {};
		const at = (ms: number) => ({ now: () => ms });
		source.clock = 500;
		source.arrive(2); // before the trigger started: never emitted
		// The poll at activation: a starting point in the node data (dropped below) and the moment in
		// the workflow's global data (kept: n8n writes it after the activation).
		const activation = nodeStaticData();
		assert.deepEqual(await run(source, activation.data, at(100_000), 'wf:n', global), []);
		assert.deepEqual(global.m365MailStarts, { 'n|box|inbox': new Date(100_000).toISOString() });
		source.clock = 150_000;
		source.arrive(3);
		// The first scheduled poll gets empty node data: the mail since the activation still comes.
		const scheduled = nodeStaticData();
		assert.deepEqual(
			(await run(source, scheduled.data, at(160_000), 'wf:n', global))?.map((i) => i.id),
			['m3', 'm4', 'm5'],
		);
		// Once the node has its cursor, the moment is removed (a new top-level object n8n sees).
		source.arrive(1);
		assert.deepEqual(
			(await run(source, scheduled.data, at(220_000), 'wf:n', global))?.map((i) => i.id),
			['m6'],
		);
		assert.deepEqual(global.m365MailStarts, {});
	});

	it('without the moment (or with "start from existing") nothing changes: a first poll sets the starting point', async () => {
		const source = new ScriptedSource();
		source.arrive(2);
		const global: IDataObject = {};
		const { data } = nodeStaticData();
		assert.deepEqual(await run(source, data, { startFrom: 'existing' }, 'wf:n', global), []);
		assert.equal(global.m365MailStarts, undefined, 'only "start from now" records a moment');
		const plain = nodeStaticData();
		assert.deepEqual(await run(source, plain.data), []);
		source.arrive(1);
		assert.deepEqual(
			(await run(source, plain.data))?.map((i) => i.id),
			['m3'],
		);
	});
});

/**
 * A folder the server resets: after `reset()` every message comes again under a new id (its
 * Message-ID kept), oldest first, a poll's worth at a time. It passes over nothing itself, as a
 * source that cannot read Message-IDs before it downloads would not. Messages are unread until
 * their number is in `read`; one under an old id is found by its Message-ID alone.
 */
class ResettingSource implements MailSource<{ generation: number; at: number }> {
	generation = 0;
	readonly read = new Set<number>();
	readonly applied: Array<{ ids: string[]; messageIds: Array<string | null | undefined> }> = [];
	/** The origins the engine handed with each owed action, and with each at-least-once look. */
	readonly origins: {
		applied: Array<Array<string | undefined>>;
		looked: Array<Array<string | undefined>>;
	} = {
		applied: [],
		looked: [],
	};
	/** `withOrigins`: each message says where it was read from (`o` and the generation), as Graph's do. */
	constructor(
		readonly total: number,
		readonly withOrigins = false,
	) {}
	reset(): void {
		this.generation++;
	}
	private fetched(n: number): FetchedMessage {
		const m = message(n);
		const origin = this.withOrigins ? { origin: `o${this.generation}` } : {};
		return { ...m, ...origin, message: { ...m.message, id: `g${this.generation}:m${n}` } };
	}
	async sample() {
		return undefined;
	}
	async next(cursor: { generation: number; at: number } | undefined, request: NextRequest) {
		const reset = cursor !== undefined && cursor.generation !== this.generation;
		const from = cursor && !reset ? cursor.at : 0;
		const to = Math.min(this.total, from + request.maxMessages);
		const messages = [];
		for (let n = from + 1; n <= to; n++) messages.push(this.fetched(n));
		return {
			messages,
			cursor: { generation: this.generation, at: to },
			more: to < this.total,
			skipped: [],
			...(reset ? { reset: 'uidValidityChanged' as const } : {}),
		};
	}
	async apply(
		_action: unknown,
		ids: string[],
		messageIds?: ReadonlyMap<string, string | null>,
		origins?: ReadonlyMap<string, string>,
	) {
		this.applied.push({ ids, messageIds: ids.map((id) => messageIds?.get(id)) });
		this.origins.applied.push(ids.map((id) => origins?.get(id)));
	}
	async stillUnread(
		ids: string[],
		messageIds?: ReadonlyMap<string, string | null>,
		origins?: ReadonlyMap<string, string>,
	) {
		this.origins.looked.push(ids.map((id) => origins?.get(id)));
		const now = new Map<string, string>();
		for (const id of ids) {
			const [generation, n] = /^g(\d+):m(\d+)$/.exec(id)!.slice(1).map(Number);
			const findable = generation === this.generation || messageIds?.get(id) === `<m${n}@x>`;
			if (findable && !this.read.has(n)) now.set(id, `g${this.generation}:m${n}`);
		}
		return now;
	}
	async fetch(ids: string[]) {
		return ids
			.map((id) => /^g(\d+):m(\d+)$/.exec(id)!.slice(1).map(Number))
			.filter(([generation]) => generation === this.generation)
			.map(([, n]) => this.fetched(n));
	}
}

describe('delivery engine: a reset', () => {
	it('copies of mail emitted before are dropped in every poll of the recovery, not only the first; owed actions get the Message-IDs', async () => {
		const source = new ResettingSource(10);
		const { data } = nodeStaticData();
		const extra = { maxMessages: 3, startFrom: 'existing' as const };
		const emitted = [...((await run(source, data, extra)) ?? [])];
		emitted.push(...((await run(source, data, extra)) ?? []));
		assert.deepEqual(
			emitted.map((i) => i.id),
			['g0:m1', 'g0:m2', 'g0:m3', 'g0:m4', 'g0:m5', 'g0:m6'],
		);
		source.reset();
		const polls: string[][] = [];
		for (let i = 0; i < 5; i++)
			polls.push(((await run(source, data, extra)) ?? []).map((x) => x.id));
		// The recovery reads 1-3 and 4-6 again (copies, by Message-ID), then 7-9 and 10.
		assert.deepEqual(polls, [[], [], ['g1:m7', 'g1:m8', 'g1:m9'], ['g1:m10'], []]);
		const state = (data.folders as Record<string, { recovering?: boolean }>)['box|inbox'];
		assert.equal(state.recovering, undefined, 'the recovery ends with the poll that found no more');
		// The action owed for 4-6 when the reset came names their Message-IDs.
		assert.deepEqual(source.applied[1], {
			ids: ['g0:m4', 'g0:m5', 'g0:m6'],
			messageIds: ['<m4@x>', '<m5@x>', '<m6@x>'],
		});
	});
});

describe('delivery engine: where each message was read from', () => {
	it('remembered with each emitted message, handed to the source with owed actions and the at-least-once look, and taken anew by a message emitted again; a source that gives none keeps `recent` as pairs', async () => {
		const source = new ResettingSource(3, true);
		const { data } = nodeStaticData();
		const extra = { startFrom: 'existing' as const, redeliverAfterMs: 1, maxAttempts: 5 };
		const state = () => (data.folders as Record<string, FolderState>)['box|inbox'];
		assert.equal((await run(source, data, extra))?.length, 3);
		assert.deepEqual(state().recent, [
			['g0:m1', '<m1@x>', 'o0'],
			['g0:m2', '<m2@x>', 'o0'],
			['g0:m3', '<m3@x>', 'o0'],
		]);
		assert.deepEqual(
			state().ledger?.map((e) => e.origin),
			['o0', 'o0', 'o0'],
		);
		for (const n of [1, 2]) source.read.add(n);
		source.reset();
		await new Promise((r) => setTimeout(r, 5));
		const again = (await run(source, data, extra)) ?? [];
		assert.deepEqual(again, [{ id: 'g1:m3', attempt: 2 }]);
		assert.deepEqual(source.origins.applied, [['o0', 'o0', 'o0']]);
		assert.deepEqual(source.origins.looked, [['o0', 'o0', 'o0']]);
		assert.deepEqual(
			state().ledger?.map((e) => [e.id, e.origin]),
			[['g1:m3', 'o1']],
		);
		// Its action is owed when the folder is reset again: the source gets its Message-ID (from the
		// ledger: `recent` has it under its first id) and where it was read from.
		source.reset();
		await new Promise((r) => setTimeout(r, 5));
		await run(source, data, extra);
		assert.deepEqual(source.applied[1], { ids: ['g1:m3'], messageIds: ['<m3@x>'] });
		assert.deepEqual(source.origins.applied[1], ['o1']);

		const plain = new ResettingSource(2);
		const other = nodeStaticData();
		await run(plain, other.data, extra);
		const recent = (other.data.folders as Record<string, FolderState>)['box|inbox'].recent;
		assert.deepEqual(recent, [
			['g0:m1', '<m1@x>'],
			['g0:m2', '<m2@x>'],
		]);
	});
});

describe('delivery engine: at-least-once', () => {
	it('a message still unread when the server reset the folder is emitted again under its new id, found by its Message-ID, and not as new mail', async () => {
		const source = new ResettingSource(6);
		const { data } = nodeStaticData();
		const extra = {
			afterEmit: { action: 'none' as const },
			startFrom: 'existing' as const,
			redeliverAfterMs: 1,
			maxAttempts: 5,
		};
		const poll = async () => {
			await new Promise((r) => setTimeout(r, 5));
			return ((await run(source, data, extra)) ?? []).map((i) => `${i.id} #${i.attempt}`);
		};
		assert.deepEqual(
			await poll(),
			['m1', 'm2', 'm3', 'm4', 'm5', 'm6'].map((m) => `g0:${m} #1`),
		);
		for (const n of [1, 2, 3, 4]) source.read.add(n);
		source.reset();
		// The recovery finds all six again (copies, dropped); 5 and 6 are still unread: emitted again.
		assert.deepEqual(await poll(), ['g1:m5 #2', 'g1:m6 #2']);
		const ledger = () =>
			(data.folders as Record<string, { ledger?: Array<{ id: string }> }>)['box|inbox'].ledger?.map(
				(e) => e.id,
			);
		assert.deepEqual(ledger(), ['g1:m5', 'g1:m6'], 'the ledger follows the new ids');
		source.read.add(5);
		assert.deepEqual(await poll(), ['g1:m6 #3']);
		source.read.add(6);
		assert.deepEqual(await poll(), []);
		assert.equal(ledger(), undefined);
	});
	it('a repeated emit that fails while its items are built counts no attempt (the stored ledger is untouched)', async () => {
		const source = new ScriptedSource();
		const { data } = nodeStaticData();
		const extra = { afterEmit: { action: 'none' as const }, redeliverAfterMs: 1 };
		await run(source, data, extra);
		source.arrive(2);
		await run(source, data, extra);
		const attempts = () =>
			(data.folders as Record<string, { ledger: Array<{ attempt: number }> }>)[
				'box|inbox'
			].ledger.map((e) => e.attempt);
		assert.deepEqual(attempts(), [1, 1]);
		await new Promise((r) => setTimeout(r, 5));
		let built = 0;
		const failing = await deliver({
			flightKey: 'wf:n',
			staticData: data,
			key: 'box|inbox',
			source,
			options: options(extra),
			// The first item is built, the second fails (binary data could not be stored).
			build: async (m) => {
				if (built++ === 1) throw new Error('binary data could not be stored');
				return { id: m.message.id, attempt: 0 };
			},
			log,
		});
		// An unknown error counts as passing trouble: nothing emitted this time (the instant trigger
		// looks again in 10 s).
		assert.deepEqual(failing, { kind: 'items', items: [], lookAgainInMs: 10_000 });
		assert.deepEqual(attempts(), [1, 1], 'no attempt counted for a poll that emitted nothing');
		assert.deepEqual(await run(source, data, extra), [
			{ id: 'm1', attempt: 2 },
			{ id: 'm2', attempt: 2 },
		]);
	});
});

describe('instant trigger: what a finished run means', () => {
	it('success, and a Wait node as chosen; an error, a cancel, a crash or no run are not success', async () => {
		const { outcomeOf } = await import('../../nodes/M365Mail/trigger/outcome');
		const run = (status: string, error?: unknown) =>
			({ status, data: { resultData: { runData: {}, ...(error ? { error } : {}) } } }) as never;
		assert.equal(outcomeOf(run('success'), true), 'success');
		assert.equal(outcomeOf(run('waiting'), true), 'success');
		assert.equal(outcomeOf(run('waiting'), false), 'failed');
		for (const status of ['error', 'canceled', 'crashed', 'unknown'])
			assert.equal(outcomeOf(run(status), true), 'failed', status);
		assert.equal(outcomeOf(run('success', { message: 'x' }), true), 'failed');
		assert.equal(outcomeOf(undefined, true), 'failed');
	});
});

describe('acknowledge', () => {
	it('drops acknowledged messages from the ledger with a new top-level object n8n sees', async () => {
		const { acknowledge } = await import('../../nodes/M365Mail/trigger/engine');
		const entry = (id: string) => ({ id, first: 'x', last: 'x', attempt: 1 });
		const data: Record<string, unknown> = {
			version: 2,
			folders: { k: { cursor: 1, ledger: [entry('a'), entry('b')] } },
		};
		const before = data.folders;
		acknowledge(data as never, 'k', ['a']);
		assert.notEqual(data.folders, before);
		assert.deepEqual((data.folders as never as Record<string, { ledger: unknown[] }>).k.ledger, [
			entry('b'),
		]);
		acknowledge(data as never, 'k', ['b']);
		assert.equal('ledger' in (data.folders as Record<string, object>).k, false);
	});
});

/**
 * The delivery engine: the trigger's rules, written once for every transport. A source (IMAP or
 * Graph) finds new mail after a cursor and acts on messages by id; the engine decides what is
 * emitted and when the cursor moves:
 *
 * - single flight: a poll that starts while another poll of the same node runs here does nothing;
 * - hand-over first: the cursor moves only with the items n8n receives, and "after emitting"
 *   actions are recorded with it and applied by the next poll, once n8n has stored the emit. After
 *   a crash the worst case is a message emitted and not yet marked (a crash inside n8n's own emit,
 *   between its static-data write and the execution row, is beyond a poll node: README);
 * - "start from now" keeps the moment it began in the workflow's global static data until the
 *   node's cursor is stored, since n8n's durable cursors drop the activation poll's node data;
 * - at-least-once (option): a message still unread that long after its emit is emitted again, up to
 *   a number of attempts, then a failed execution names it;
 * - re-baselines (UIDVALIDITY change, expired delta, recreated folder) recover what arrived since
 *   the last completed poll, and `recent` keeps replays and recovered mail from coming twice;
 * - failures visible: passing trouble is retried quietly for a few polls, then thrown.
 *
 * It knows nothing of n8n's contexts: `deliver` receives the static data and callbacks. A future
 * `trigger()` node can drive the same source and store, acknowledging when its run succeeded.
 */
import type { IDataObject } from 'n8n-workflow';

import { MailServiceError, redactSecrets, type MailErrorKind } from '../transport/auth/errors';
import type { MailSource, ResetReason } from '../transport/mailbox';
import type { AfterEmit, FetchedMessage } from '../transport/types';
import { emittedBefore, remember, TriggerStore, type FolderState, type LedgerEntry } from './state';

export interface Delivery {
	/** 1 for the first emit. */
	attempt: number;
	firstEmittedAt: string;
	/** Set on mail recovered after the cursor was started again. */
	recovered?: ResetReason;
}

export interface DeliveryOptions {
	afterEmit: AfterEmit;
	startFrom: 'now' | 'existing';
	maxMessages: number;
	maxBytes: number;
	/** The time this poll may take (n8n's poll budget). */
	budgetMs: number;
	/** 0: off. Otherwise emit again a message still unread this long after its emit. */
	redeliverAfterMs: number;
	maxAttempts: number;
	/** Passing trouble is thrown from this many failed polls in a row on. */
	troubleLimit?: number;
	/** Messages whose run has not finished (instant trigger): never emitted again meanwhile. */
	holding?: (id: string) => boolean;
	now?: () => number;
}

export interface DeliveryLog {
	warn(message: string): void;
	debug(message: string): void;
}

/** What a poll hands to n8n, built by the caller (items, binary data). */
export type BuildItem<T> = (fetched: FetchedMessage, delivery: Delivery) => Promise<T>;

/** Trouble that passes by itself (the next poll tries again). */
const PASSING: MailErrorKind[] = ['network', 'throttled', 'syncState', 'unknown'];

/** How many emitted messages are remembered against replays. */
const RECENT_LIMIT = 1000;
/** How many emitted messages the at-least-once ledger follows. */
export const LEDGER_LIMIT = 1000;
const TROUBLE_LIMIT = 3;
/**
 * After passing trouble, the instant trigger looks again this long times the polls in a row with it
 * (10 s, then 20 s), rather than waiting for the next notice: the mail it was reading when its session
 * died (dropped, or silent until the socket timeout) sent its notice already. Not after throttling.
 * n8n schedules the polling trigger's polls: it does not read this.
 */
const TROUBLE_LOOK_AGAIN_MS = 10_000;

/** Polls running in this process, by workflow and node, with their start time. */
const inFlight = new Map<string, number>();

export function isPassing(error: unknown): boolean {
	return !(error instanceof MailServiceError) || PASSING.includes(error.kind);
}

/** What a poll came to: items to emit (maybe none), nothing (another poll runs), or a failure to show. */
export type DeliveryResult<T> =
	/** `lookAgainInMs`: mail may show up without a notice (NewMail.lookAgainInMs; instant trigger). */
	| { kind: 'items'; items: T[]; lookAgainInMs?: number; reset?: ResetReason }
	| { kind: 'busy' }
	/** `trouble` is set when passing trouble has lasted `troubleLimit` polls in a row. */
	| { kind: 'failed'; error: unknown; trouble?: { count: number; since: string } };

/**
 * One poll. Never throws: trouble the user must see comes back as `failed` (passing trouble only once
 * it lasted `troubleLimit` polls in a row), for the caller to raise as n8n expects.
 */
export async function deliver<C, T>(input: {
	flightKey: string;
	staticData: IDataObject;
	/**
	 * The workflow's global static data and this node's key in it: where "start from now" keeps the
	 * moment it began watching until the node's own cursor has reached n8n's database. n8n's durable
	 * cursors drop the node data of the poll at activation, but write the global data.
	 */
	starts?: { data: IDataObject; key: string };
	key: string;
	source: MailSource<C>;
	options: DeliveryOptions;
	build: BuildItem<T>;
	log: DeliveryLog;
}): Promise<DeliveryResult<T>> {
	const { flightKey, source, options, log, key } = input;
	const now = options.now ?? Date.now;
	const started = now();
	const running = inFlight.get(flightKey);
	// A poll older than twice its budget is taken for dead (its late answer is refused below).
	if (running !== undefined && started - running < 2 * options.budgetMs + 60_000) {
		log.debug(
			`Microsoft 365 Mail Trigger: the previous poll of ${key} still runs; skipping this one`,
		);
		return { kind: 'busy' };
	}
	inFlight.set(flightKey, started);
	const store = new TriggerStore(input.staticData);
	const before = store.get(key);
	try {
		const startedAt = startingPoint(input.starts, before, options, started);
		const { items, lookAgainInMs, reset } = await pollOnce(
			store,
			key,
			before,
			source,
			{ ...options, startedAt },
			input.build,
			log,
			started,
		);
		return {
			kind: 'items',
			items,
			...(lookAgainInMs ? { lookAgainInMs } : {}),
			...(reset ? { reset } : {}),
		};
	} catch (error) {
		// Count passing trouble in memory (it reaches the database with the next emit).
		const state = store.get(key);
		if (state && state === before && state.cursor !== undefined && isPassing(error)) {
			const trouble = {
				count: (state.trouble?.count ?? 0) + 1,
				since: state.trouble?.since ?? new Date(started).toISOString(),
			};
			store.set(key, { ...state, trouble });
			if (trouble.count < (options.troubleLimit ?? TROUBLE_LIMIT)) {
				log.warn(
					`Microsoft 365 Mail Trigger: ${redactSecrets((error as Error).message)} (poll ${trouble.count} in a row with this trouble; the next poll tries again)`,
				);
				// Throttling is waited out as Microsoft asks (the client did), not hurried.
				const throttled = error instanceof MailServiceError && error.kind === 'throttled';
				if (throttled) return { kind: 'items', items: [] };
				return { kind: 'items', items: [], lookAgainInMs: TROUBLE_LOOK_AGAIN_MS * trouble.count };
			}
			return { kind: 'failed', error, trouble };
		}
		return { kind: 'failed', error };
	} finally {
		if (inFlight.get(flightKey) === started) inFlight.delete(flightKey);
	}
}

/**
 * The runs of these messages succeeded (instant trigger): they leave the at-least-once ledger. The
 * change is in n8n's static data at once and reaches its database with the next emit.
 */
export function acknowledge(staticData: IDataObject, key: string, ids: string[]): void {
	const store = new TriggerStore(staticData);
	const state = store.get(key);
	if (!state?.ledger?.some((e) => ids.includes(e.id))) return;
	const ledger = state.ledger.filter((e) => !ids.includes(e.id));
	const next: FolderState = { ...state, ledger };
	if (!ledger.length) delete next.ledger;
	store.set(key, next);
}

/** Messages the at-least-once option gave up on: a failed execution names them. */
export class GaveUpError extends MailServiceError {
	constructor(readonly entries: LedgerEntry[]) {
		super(
			`${entries.length} message(s) were emitted ${entries[0].attempt} times and are still unread: ${entries
				.map((e) => e.messageId ?? e.id)
				.join(', ')
				.slice(0, 500)}`,
			'The workflow did not finish these messages (it marks them read or moves them when it does). Look at the failed executions of these messages, fix the cause, then mark them read or move them yourself; the trigger does not emit them again.',
			'input',
		);
	}
}

const STARTS = 'm365MailStarts';
/** Our clock and the server's may differ: a recorded start counts from this much earlier. */
const STARTED_SKEW_MS = 60_000;

/**
 * "Start from now": the first poll of a folder records when it began, outside the node's cursor. A
 * later poll that finds no cursor (its starting point never reached n8n's database) starts from that
 * moment instead of from its own; once a cursor is there, the record is removed.
 */
function startingPoint(
	starts: { data: IDataObject; key: string } | undefined,
	before: FolderState | undefined,
	options: DeliveryOptions,
	started: number,
): Date | undefined {
	if (!starts || options.startFrom !== 'now') return undefined;
	const all = (starts.data[STARTS] ?? {}) as Record<string, string>;
	const recorded = all[starts.key];
	if (before?.cursor !== undefined) {
		if (recorded !== undefined) {
			const rest = { ...all };
			delete rest[starts.key];
			starts.data[STARTS] = rest;
		}
		return undefined;
	}
	if (recorded !== undefined && !Number.isNaN(Date.parse(recorded)))
		return new Date(Date.parse(recorded) - STARTED_SKEW_MS);
	// A new top-level object: n8n's change tracking sees it.
	starts.data[STARTS] = { ...all, [starts.key]: new Date(started).toISOString() };
	return undefined;
}

async function pollOnce<C, T>(
	store: TriggerStore,
	key: string,
	before: FolderState | undefined,
	source: MailSource<C>,
	options: DeliveryOptions & { startedAt?: Date },
	build: BuildItem<T>,
	log: DeliveryLog,
	started: number,
): Promise<{ items: T[]; lookAgainInMs?: number; reset?: ResetReason }> {
	const nowIso = new Date(started).toISOString();
	let state: FolderState = { ...(before ?? {}) };

	// 1. Actions owed for messages n8n already has (it stored them with this state at the emit).
	const { messageIds, origins } = emittedBefore(state);
	for (const owed of state.pending ?? [])
		await source.apply(owed.action, owed.ids, messageIds, origins);
	state.pending = [];

	// 2. Messages emitted earlier and still unread (at-least-once option). One the server gave a new
	// id in a reset is found by its Message-ID, and its entry takes the new id (`from`: the old one).
	const redeliver: Array<{ from: string; entry: LedgerEntry; delivery: Delivery }> = [];
	let ledger = state.ledger ?? [];
	if (options.redeliverAfterMs > 0 && ledger.length) {
		const due = ledger.filter(
			(e) => started - Date.parse(e.last) >= options.redeliverAfterMs && !options.holding?.(e.id),
		);
		if (due.length) {
			const unread = await source.stillUnread(
				due.map((e) => e.id),
				messageIds,
				origins,
			);
			const done = new Set(due.filter((e) => !unread.has(e.id)).map((e) => e.id));
			const gaveUp = due.filter((e) => unread.has(e.id) && e.attempt >= options.maxAttempts);
			const dropped = new Set([...done, ...gaveUp.map((e) => e.id)]);
			ledger = ledger.filter((e) => !dropped.has(e.id));
			if (gaveUp.length) {
				// Remembered in memory now, stored with the next emit; the failed execution names them.
				store.set(key, { ...state, ledger });
				throw new GaveUpError(gaveUp);
			}
			// Copies: the stored entries change only with the commit below.
			for (const entry of due.filter((e) => unread.has(e.id)).slice(0, options.maxMessages)) {
				redeliver.push({
					from: entry.id,
					entry: { ...entry, id: unread.get(entry.id) ?? entry.id },
					delivery: { attempt: entry.attempt + 1, firstEmittedAt: entry.first },
				});
			}
		}
	}
	const recent = state.recent ?? [];
	// Emitted before: the latest emits, and the ledger's (which can outlast them).
	const known = [...recent, ...ledger.map((e) => [e.id, e.messageId ?? null] as const)];
	const recentIds = new Set(known.map(([id]) => id));
	const recentMessageIds = new Set(known.map(([, m]) => m).filter(Boolean));

	// 3. New mail.
	const room = Math.max(options.maxMessages - redeliver.length, 0);
	const found = await source.next(state.cursor as C | undefined, {
		startFrom: options.startFrom,
		startedAt: options.startedAt,
		maxMessages: Math.max(room, 1),
		maxBytes: options.maxBytes,
		deadline: started + Math.max(options.budgetMs * 0.6, 10_000),
		recoverSince: state.at ? new Date(state.at) : undefined,
		recovering: state.recovering,
		emitted: (id, messageId) =>
			recentIds.has(id) || (messageId !== null && recentMessageIds.has(messageId)),
	});
	if (found.reset) {
		log.warn(
			`Microsoft 365 Mail Trigger: ${describeReset(found.reset)}; ${found.messages.length} message(s) received since ${state.at ?? 'the last poll'} are emitted from the new starting point.`,
		);
	}
	for (const note of found.notes ?? []) log.warn(`Microsoft 365 Mail Trigger: ${note}`);
	for (const skipped of found.skipped) {
		log.warn(`Microsoft 365 Mail Trigger passed over message ${skipped.id}: ${skipped.reason}`);
	}
	// After a reset, every poll until the recovered mail is all read (no more) drops copies of mail
	// emitted before: a drain under the old ids can leave more than a poll's worth of them.
	const recovering = Boolean(found.reset || state.recovering);
	const fresh = found.messages.filter(
		(m) =>
			!(
				recentIds.has(m.message.id) ||
				(m.message.messageId && recovering && recentMessageIds.has(m.message.messageId))
			),
	);

	// 4. Items, built before anything is committed: a failure here leaves the state as it was.
	const items: T[] = [];
	const emitted: FetchedMessage[] = [];
	if (redeliver.length) {
		const again = await source.fetch(redeliver.map((r) => r.entry.id));
		const byId = new Map(again.map((m) => [m.message.id, m]));
		for (const r of redeliver) {
			const fetched = byId.get(r.entry.id);
			if (!fetched) continue;
			items.push(await build(fetched, r.delivery));
			emitted.push(fetched);
			r.entry.last = nowIso;
			r.entry.attempt++;
			r.entry.origin = fetched.origin;
		}
	}
	for (const m of fresh) {
		items.push(
			await build(m, {
				attempt: 1,
				firstEmittedAt: nowIso,
				...(found.reset ? { recovered: found.reset } : {}),
			}),
		);
		emitted.push(m);
	}

	// 5. Commit, unless another poll committed meanwhile (then this one's result is not emitted).
	if (store.get(key) !== before) {
		log.warn(
			`Microsoft 365 Mail Trigger: another poll of ${key} finished first; this one emits nothing`,
		);
		return { items: [] };
	}
	if (options.redeliverAfterMs > 0) {
		ledger = ledger.map((e) => redeliver.find((r) => r.from === e.id)?.entry ?? e);
		ledger.push(
			...fresh.map((m) => ({
				id: m.message.id,
				messageId: m.message.messageId,
				origin: m.origin,
				first: nowIso,
				last: nowIso,
				attempt: 1,
			})),
		);
		if (ledger.length > LEDGER_LIMIT) {
			log.warn(
				`Microsoft 365 Mail Trigger: more than ${LEDGER_LIMIT} messages await their workflow; the oldest are no longer emitted again`,
			);
			ledger = ledger.slice(-LEDGER_LIMIT);
		}
	} else ledger = [];
	state = {
		cursor: found.cursor,
		at: found.more ? (state.at ?? nowIso) : nowIso,
		pending:
			options.afterEmit.action !== 'none' && emitted.length
				? [{ action: options.afterEmit, ids: emitted.map((m) => m.message.id) }]
				: [],
		recent: [...recent, ...fresh.map(remember)].slice(-RECENT_LIMIT),
		...(ledger.length ? { ledger } : {}),
		...(recovering && found.more ? { recovering: true } : {}),
	};
	store.set(key, state);
	return { items, lookAgainInMs: found.lookAgainInMs, reset: found.reset };
}

function describeReset(reason: ResetReason): string {
	switch (reason) {
		case 'uidValidityChanged':
			return 'the server reset the folder (UIDVALIDITY changed)';
		case 'deltaReset':
			return 'Microsoft Graph no longer accepts the stored delta state';
		default:
			return 'the folder was deleted and created again';
	}
}

/**
 * New-mail detection over IMAP with a `{uidValidity, lastUid}` cursor: the new unread messages above
 * the cursor, oldest first, within a count, a byte budget and a deadline. Nothing here changes a
 * message: the delivery engine (trigger/engine.ts) decides when the cursor moves and when "after
 * emitting" actions run (`applyAction`, in emitted.ts).
 */
import type { ImapFlow } from 'imapflow';

import { type FetchedMessage, type MessageContent, type MessageFilters } from '../types';
import { readingFolder } from './lock';
import {
	accountFor,
	downloadIsolated,
	fetchIsolated,
	leftOutNote,
	readCandidates,
	simpleIsolated,
	type Candidate,
} from './isolated';
import {
	fetchMessages,
	fetchMetadata,
	searchUids,
	type MessageMetadata,
	type OpenFolder,
} from './messages';
import { matchesFilters, needsEnvelopeCheck, searchQuery } from './search';
import {
	freshHoles,
	holeOf,
	holesPassed,
	keptHoles,
	lateArrivals,
	lookAgainIn,
	type Hole,
} from './holes';

export interface ImapCursor {
	uidValidity: string;
	lastUid: number;
	/** UIDs up to `lastUid` that were not in the folder when a poll passed them (holes.ts). */
	holes?: Hole[];
}

export interface PollOptions {
	mailbox: string;
	folder: string;
	cursor?: ImapCursor;
	/** With no cursor yet: start after the newest message, or include the unread mail already there. */
	startFrom: 'now' | 'existing';
	filters: MessageFilters;
	maxMessages: number;
	/** Stop taking messages once their total size would pass this (at least one is taken). */
	maxBytes?: number;
	content: MessageContent;
	full?: boolean;
	/** Keep the raw bytes of parsed messages (for raw output with attachments). */
	keepRaw?: boolean;
	/** `false`: attachment bytes are dropped once read (see ReadOptions). */
	attachmentContent?: boolean;
	/** Metadata is read in batches of this many UIDs. */
	batchSize?: number;
	/** Epoch ms after which no further batch is started (n8n's poll budget). */
	deadline?: number;
	/** After a UIDVALIDITY change: recover the unread mail received since then. */
	recoverSince?: Date;
	/** A recovery that began in an earlier poll goes on (NextRequest.recovering). */
	recovering?: boolean;
	/** Emitted before (NextRequest.emitted): a recovery passes over copies of it. */
	emitted?: (id: string, messageId: string | null) => boolean;
	/** With "start from now" and no cursor: the trigger began watching then (see NextRequest). */
	startedAt?: Date;
}

export interface PollOutcome {
	messages: FetchedMessage[];
	cursor: ImapCursor;
	/** Set when this poll (re)started the cursor. */
	baseline?: 'first' | 'uidValidityChanged';
	/** Messages passed over because of the size limit. */
	skippedTooLarge: Array<{ uid: number; size?: number; subject?: string }>;
	/** More new messages are waiting (limit, byte budget or time budget reached). */
	more: boolean;
	/** What the poll had to work around, for the log (a server that left messages out of an answer). */
	notes?: string[];
	/** Holes kept are young: look again this soon, without a notice (holes.ts, lookAgainIn). */
	lookAgainInMs?: number;
}

/** Envelopes and structures are small: few round trips matter more than batch size. */
const DEFAULT_BATCH = 500;

/** INTERNALDATE and our clock may differ a little: recovery looks this much further back. */
const RECOVERY_SKEW_MS = 5 * 60_000;

function chunks<T>(list: T[], size: number): T[][] {
	const result: T[][] = [];
	for (let i = 0; i < list.length; i += size) result.push(list.slice(i, i + size));
	return result;
}

/** The first UID of mail received since `since` in the open folder (0 when there is none). */
async function firstUidSince(
	open: OpenFolder,
	since: Date,
	skewMs = RECOVERY_SKEW_MS,
): Promise<number> {
	const from = new Date(since.getTime() - skewMs);
	// SEARCH SINCE is by day: narrow it by INTERNALDATE.
	const uids = await searchUids(open, { since: from });
	for (const batch of chunks(uids, DEFAULT_BATCH)) {
		for (const m of await fetchMetadata(open, batch)) {
			const received = m.envelope.internalDate ? new Date(m.envelope.internalDate) : undefined;
			if (!received || received.getTime() >= from.getTime()) return m.uid;
		}
	}
	return 0;
}

/** One poll: the new unread messages above the cursor, oldest first, and the cursor after them. */
export async function pollNewMessages(
	client: ImapFlow,
	options: PollOptions,
): Promise<PollOutcome> {
	const outcome: PollOutcome = await readingFolder(
		client,
		options,
		async (open) => {
			// UIDNEXT bounds the search: mail arriving during the poll waits for the next one.
			const top = open.uidNext > 0 ? open.uidNext - 1 : Number.MAX_SAFE_INTEGER;
			const none = { messages: [], skippedTooLarge: [], more: false };
			/** A cursor just before UID `first` (0: nothing received since then, start after `top`). */
			const before = (first: number): ImapCursor => ({
				uidValidity: open.uidValidity,
				lastUid: first > 0 ? first - 1 : Math.max(top === Number.MAX_SAFE_INTEGER ? 0 : top, 0),
			});
			let cursor = options.cursor;
			let baseline: PollOutcome['baseline'];
			if (!cursor) {
				if (options.startFrom === 'existing') cursor = before(1);
				else if (options.startedAt)
					cursor = before(await firstUidSince(open, options.startedAt, 0));
				else
					return {
						...none,
						cursor: { uidValidity: open.uidValidity, lastUid: Math.max(top, 0) },
						baseline: 'first',
					};
			} else if (cursor.uidValidity !== open.uidValidity) {
				// The folder was recreated or the server reset its UIDs: old UIDs mean nothing now. Start at
				// the mail received since the last completed poll (the engine drops what it already emitted).
				baseline = 'uidValidityChanged';
				cursor = before(options.recoverSince ? await firstUidSince(open, options.recoverSince) : 0);
			}
			const lastUid = cursor.lastUid;
			const now = Date.now();
			const maxSize = options.filters.maxSizeBytes;
			const unread = { ...options.filters, unreadOnly: true, maxSizeBytes: undefined };
			const envelopeCheck = needsEnvelopeCheck(options.filters);
			// UIDs passed before that were not there then: one there now is new mail (holes.ts).
			const { late, left } = await lateArrivals(open, freshHoles(cursor.holes, now), (uids) =>
				searchQuery(unread, uids),
			);
			const cursorAt = (uid: number, holes: Array<Hole | undefined>): ImapCursor => {
				const kept = keptHoles(holes);
				return { uidValidity: open.uidValidity, lastUid: uid, ...(kept ? { holes: kept } : {}) };
			};
			// Nothing has arrived since the last poll: no FETCH (and no SEARCH unless holes are kept).
			if (top <= lastUid && !late.length)
				return { ...none, cursor: cursorAt(lastUid, left), baseline };

			const range = `${lastUid + 1}:${top === Number.MAX_SAFE_INTEGER ? '*' : top}`;
			const above =
				top > lastUid
					? (await searchUids(open, searchQuery(unread, range))).filter(
							(uid) => uid > lastUid && uid <= top,
						)
					: [];
			const candidates = [...late.sort((a, b) => a - b), ...above];

			const skippedTooLarge: PollOutcome['skippedTooLarge'] = [];
			const leftOut: number[] = [];
			const selected: Candidate[] = [];
			// Every filter ran in SEARCH: sizes are all the limits need, and the download brings the
			// envelope with it (one pass, as fast as fetching alone; the simple output reads small
			// messages whole too, and large ones by structure).
			// A recovery reads envelopes first too: copies of mail emitted before (the new UIDs of
			// messages emitted under the old UIDVALIDITY, known by Message-ID) are passed over before
			// they count against the poll's limits.
			const recovery = baseline === 'uidValidityChanged' || options.recovering === true;
			const onePass = !envelopeCheck && !recovery;
			let examined = lastUid;
			/** The last candidate the loop got to (late arrivals it did not get to stay holes). */
			let reached = 0;
			let bytes = 0;
			let more = false;
			outer: for (const batch of chunks(candidates, options.batchSize ?? DEFAULT_BATCH)) {
				if (options.deadline && Date.now() > options.deadline && selected.length) {
					more = true;
					break;
				}
				// Full already: the rest waits for the next poll, unread (no FETCH to find that out).
				if (selected.length >= options.maxMessages) {
					more = true;
					break;
				}
				for (const m of await readCandidates(open, batch, !onePass, leftOut)) {
					if (selected.length >= options.maxMessages) {
						more = true;
						break outer;
					}
					if (
						recovery &&
						m.envelope &&
						options.emitted?.(m.envelope.id, m.envelope.messageId ?? null)
					) {
						examined = Math.max(examined, m.uid);
						reached = m.uid;
						continue;
					}
					if (maxSize && m.size > maxSize) {
						examined = Math.max(examined, m.uid);
						reached = m.uid;
						skippedTooLarge.push({ uid: m.uid, size: m.size, subject: m.envelope?.subject ?? '' });
						continue;
					}
					if (options.maxBytes && selected.length && bytes + m.size > options.maxBytes) {
						more = true;
						break outer;
					}
					examined = Math.max(examined, m.uid);
					reached = m.uid;
					// One the server did not describe is taken: it may match, and is not passed over.
					if (envelopeCheck && !m.unanswered && !matchesFilters(m as MessageMetadata, unread))
						continue;
					bytes += m.size;
					selected.push(m);
				}
			}
			const next = more || top === Number.MAX_SAFE_INTEGER ? examined : Math.max(top, examined);
			const notReached = late.filter((uid) => uid > reached);
			const described = selected.filter((m) => !m.unanswered);
			const downloaded = !onePass
				? await fetchIsolated(open, described as MessageMetadata[], options.content, options)
				: options.content === 'summary'
					? await simpleIsolated(open, described)
					: await downloadIsolated(
							open,
							described.map((m) => m.uid),
							options.content,
							options,
						);
			// The cursor passes every selected UID: one the download left out is accounted for here.
			const messages = await accountFor(
				open,
				selected.map((m) => m.uid),
				downloaded,
				options,
				(m) => !envelopeCheck || matchesFilters(m, unread),
				leftOut,
			);
			return {
				messages,
				skippedTooLarge,
				more,
				...(leftOut.length ? { notes: [leftOutNote(open, leftOut)] } : {}),
				baseline,
				cursor: cursorAt(next, [
					...left,
					holeOf(notReached, now),
					top === Number.MAX_SAFE_INTEGER
						? undefined
						: await holesPassed(
								open,
								{ from: lastUid + 1, to: next, top, known: new Set(above) },
								now,
							),
				]),
			};
		},
		{ currentUidNext: true },
	);
	const lookAgainInMs = lookAgainIn(outcome.cursor.holes, Date.now());
	return lookAgainInMs ? { ...outcome, lookAgainInMs } : outcome;
}

/** The newest message matching the filters (unread preferred): the sample of "Fetch Test Event". */
export async function newestMessage(
	client: ImapFlow,
	options: Pick<PollOptions, 'mailbox' | 'folder' | 'filters' | 'content' | 'full' | 'keepRaw'>,
): Promise<FetchedMessage | undefined> {
	return await readingFolder(client, options, async (open) => {
		for (const unreadOnly of [true, false]) {
			const filters = { ...options.filters, unreadOnly };
			const uids = await searchUids(open, searchQuery(filters));
			for (const batch of chunks(uids.reverse(), 20)) {
				const metadata = (await fetchMetadata(open, batch)).reverse();
				const match = metadata.find((m) => matchesFilters(m, filters));
				if (match) return (await fetchMessages(open, [match], options.content, options))[0];
			}
		}
		return undefined;
	});
}

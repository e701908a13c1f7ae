/**
 * Late arrivals below the cursor. A poll passes every UID up to its cursor, but a UID near the top
 * that was not in the folder when the poll passed it may still fill: a server can hand out a UID
 * before the message can be seen (Exchange Online has been seen to show a new message with a UID
 * lower than one it showed before; mjs/imapclient issue 441). Such UIDs are kept with the cursor as
 * holes, and each poll asks whether any of them is in the folder now: one that is, and is unread and
 * matches, is new mail. A hole is dropped once it fills, after a day, or when more than MAX_HOLES are
 * kept. Only UIDs within HOLE_WINDOW of the top are kept: a gap far below the newest message is mail
 * expunged long ago.
 */
import type { SearchObject } from 'imapflow';

import { uidSet } from './bulkResponse';
import { searchUids, type OpenFolder } from './messages';

/** UIDs a poll passed that were not in the folder then (as a UID set), and when. */
export interface Hole {
	uids: string;
	at: string;
}

/** How far below the top of the folder a UID not yet seen is kept as a hole. */
export const HOLE_WINDOW = 200;
/** A hole older than this is taken for mail expunged before the poll came. */
export const HOLE_TTL_MS = 24 * 60 * 60_000;
/** The most UIDs kept as holes (the newest). */
export const MAX_HOLES = 1000;
/** While a hole is younger than this, the instant trigger looks at it again without a notice. */
export const YOUNG_HOLE_MS = 10 * 60_000;

/**
 * When the instant trigger should look at the holes again without waiting for a notice (a server
 * may not announce a message it counted before it could be seen): a quarter of the youngest hole's
 * age, between 5 s and a minute, so soon after a hole appears and less often after; undefined with
 * no hole younger than YOUNG_HOLE_MS (the trigger's own safety check and its notices go on).
 */
export function lookAgainIn(holes: Hole[] | undefined, now: number): number | undefined {
	const ages = (holes ?? []).map((h) => now - Date.parse(h.at)).filter((age) => age >= 0);
	if (!ages.length) return undefined;
	const youngest = Math.min(...ages);
	if (youngest >= YOUNG_HOLE_MS) return undefined;
	return Math.min(Math.max(Math.round(youngest / 4), 5_000), 60_000);
}

/** A hole of these UIDs, found now (undefined when there are none). */
export function holeOf(uids: number[], now: number): Hole | undefined {
	return uids.length ? { uids: uidSet(uids), at: new Date(now).toISOString() } : undefined;
}

/** The UIDs of a UID set ("1:3,7"); a malformed or huge part is ignored. */
export function uidsOf(set: string): number[] {
	const uids: number[] = [];
	for (const part of set.split(',')) {
		const [a, b = a] = part.split(':').map(Number);
		if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || a < 1 || b < a) continue;
		if (b - a >= MAX_HOLES) continue;
		for (let uid = a; uid <= b; uid++) uids.push(uid);
	}
	return uids;
}

/** The holes still worth asking about: a day old at most, the newest MAX_HOLES UIDs. */
export function freshHoles(holes: Hole[] | undefined, now: number): Hole[] {
	if (!Array.isArray(holes)) return [];
	const fresh = holes.filter(
		(h) => typeof h?.uids === 'string' && now - Date.parse(h.at) < HOLE_TTL_MS,
	);
	return capHoles(fresh);
}

/** Keeps the newest MAX_HOLES UIDs (holes are kept oldest first). */
function capHoles(holes: Hole[]): Hole[] {
	let room = MAX_HOLES;
	const kept: Hole[] = [];
	for (const hole of [...holes].reverse()) {
		const uids = uidsOf(hole.uids).slice(-room);
		if (!uids.length) continue;
		room -= uids.length;
		kept.unshift({ uids: uidSet(uids), at: hole.at });
		if (room <= 0) break;
	}
	return kept;
}

/**
 * Which holes filled since: `late`, those that are unread and match (`query` for a UID set), and
 * `left`, the holes still empty. A filled hole is dropped whether or not it matches.
 */
export async function lateArrivals(
	open: OpenFolder,
	holes: Hole[],
	query: (uids: string) => SearchObject,
): Promise<{ late: number[]; left: Hole[] }> {
	const all = holes.flatMap((h) => uidsOf(h.uids));
	if (!all.length) return { late: [], left: [] };
	const filled = new Set(await searchUids(open, { uid: uidSet(all) }));
	if (!filled.size) return { late: [], left: holes };
	const late = await searchUids(open, query(uidSet([...filled])));
	const left = holes
		.map((h) => ({ ...h, uids: uidSet(uidsOf(h.uids).filter((uid) => !filled.has(uid))) }))
		.filter((h) => h.uids);
	return { late: late.filter((uid) => filled.has(uid)), left };
}

/**
 * The UIDs in `from`..`to` that are not in the folder now, as a hole (undefined when there are none).
 * Only the part within HOLE_WINDOW of `top` is asked about, and only UIDs not `known` to be there (the
 * poll's own SEARCH found them): when new mail is unread and matches, no command is sent.
 */
export async function holesPassed(
	open: OpenFolder,
	range: { from: number; to: number; top: number; known: Set<number> },
	now: number,
): Promise<Hole | undefined> {
	const start = Math.max(range.from, range.top - HOLE_WINDOW + 1, 1);
	const unknown: number[] = [];
	for (let uid = start; uid <= range.to; uid++) if (!range.known.has(uid)) unknown.push(uid);
	if (!unknown.length) return undefined;
	const here = new Set(await searchUids(open, { uid: uidSet(unknown) }));
	return holeOf(
		unknown.filter((uid) => !here.has(uid)),
		now,
	);
}

/** The holes to keep with the cursor: those left, those the poll did not get to, and the new ones. */
export function keptHoles(holes: Array<Hole | undefined>): Hole[] | undefined {
	const kept = capHoles(holes.filter((h): h is Hole => Boolean(h?.uids)));
	return kept.length ? kept : undefined;
}

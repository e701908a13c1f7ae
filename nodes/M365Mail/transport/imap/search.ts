/**
 * Finding messages over IMAP: the filters pushed into SEARCH where the server can match them, and
 * checked on the envelope where it cannot (non-ASCII text, names as well as addresses).
 */
import type { SearchObject } from 'imapflow';

import { messageFromEnvelope, summarizeStructure, type MessageEnvelope } from '../mime/parse';
import type { FetchedMessage, MailAddress, MessageContent, MessageFilters } from '../types';
import {
	fetchMessages,
	fetchMetadata,
	searchUids,
	type MessageMetadata,
	type OpenFolder,
} from './messages';

/**
 * Text SEARCH can run on the server: ASCII only. Exchange Online answers `NO [BADCHARSET]` to
 * `SEARCH CHARSET UTF-8`, so other text is matched on the envelope instead.
 */
function searchable(text: string | undefined): boolean {
	return !text || /^[\x20-\x7e]*$/.test(text);
}

/** Filters only the envelope can check (the server's SEARCH cannot, or not with OR between them). */
export function needsEnvelopeCheck(filters: MessageFilters): boolean {
	return Boolean(
		!searchable(filters.subjectContains) ||
			!(filters.from ?? []).every(searchable) ||
			filters.to?.length ||
			filters.cc?.length ||
			filters.toOrCc?.length ||
			filters.importance ||
			filters.hasAttachments !== undefined,
	);
}

function matchesAny(addresses: MailAddress[], wanted: string[] | undefined): boolean {
	if (!wanted?.length) return true;
	return wanted.some((w) => {
		const needle = w.toLowerCase();
		return addresses.some(
			(a) => a.address.includes(needle) || a.name.toLowerCase().includes(needle),
		);
	});
}

function lowerAddresses(list: MessageEnvelope['to']): MailAddress[] {
	return (list ?? []).map((a) => ({
		name: a.name ?? '',
		address: (a.address ?? '').toLowerCase(),
	}));
}

/**
 * Whether a message passes the filters, with Power Automate's semantics: each list matches when any
 * of its entries matches; different filters must all match.
 */
export function matchesFilters(m: MessageMetadata, filters: MessageFilters): boolean {
	const env = m.envelope;
	const to = lowerAddresses(env.to);
	const cc = lowerAddresses(env.cc);
	if (!matchesAny(lowerAddresses(env.from), filters.from)) return false;
	if (!matchesAny(to, filters.to)) return false;
	if (!matchesAny(cc, filters.cc)) return false;
	if (!matchesAny([...to, ...cc], filters.toOrCc)) return false;
	if (
		filters.subjectContains &&
		!(env.subject ?? '').toLowerCase().includes(filters.subjectContains.toLowerCase())
	)
		return false;
	const message = messageFromEnvelope(env, m.headers);
	if (filters.importance && message.importance !== filters.importance) return false;
	if (filters.unreadOnly && message.isRead) return false;
	if (filters.hasAttachments !== undefined) {
		const has = summarizeStructure(m.structure).attachments.some((a) => !a.inline);
		if (has !== filters.hasAttachments) return false;
	}
	return true;
}

/** The server-side part of the filters (the rest is checked on the envelope). */
export function searchQuery(filters: MessageFilters, uidRange?: string): SearchObject {
	const query: SearchObject = {};
	if (uidRange) query.uid = uidRange;
	if (filters.unreadOnly) query.seen = false;
	if (filters.subjectContains && searchable(filters.subjectContains))
		query.subject = filters.subjectContains;
	if (filters.receivedAfter) query.since = filters.receivedAfter;
	if (filters.receivedBefore) query.before = filters.receivedBefore;
	if (filters.maxSizeBytes) query.smaller = filters.maxSizeBytes + 1;
	if (filters.search) query.text = filters.search;
	const from = (filters.from ?? []).every(searchable) ? (filters.from ?? []) : [];
	if (from.length === 1) query.from = from[0];
	else if (from.length) query.or = from.map((f) => ({ from: f }));
	if (!Object.keys(query).length) query.all = true;
	return query;
}

/** Messages matching the filters, newest first, up to `limit`, read in the given depth. */
export async function findNewest(
	open: OpenFolder,
	filters: MessageFilters,
	limit: number,
	read: { content: MessageContent; full?: boolean; keepRaw?: boolean },
): Promise<FetchedMessage[]> {
	// Envelope filters are checked in pages of 100 until the limit is reached.
	const uids = (await searchUids(open, searchQuery(filters))).reverse();
	const selected: MessageMetadata[] = [];
	for (let i = 0; i < uids.length && selected.length < limit; i += 100) {
		const page = (await fetchMetadata(open, uids.slice(i, i + 100))).reverse();
		for (const m of page) {
			if (selected.length >= limit) break;
			if (matchesFilters(m, filters)) selected.push(m);
		}
	}
	const fetched: FetchedMessage[] = [];
	for (let i = 0; i < selected.length; i += 100) {
		fetched.push(...(await fetchMessages(open, selected.slice(i, i + 100), read.content, read)));
	}
	return fetched;
}

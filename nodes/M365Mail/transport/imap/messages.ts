/**
 * Reading and changing messages over IMAP. Rules from imapflow: every fetch is collected before the
 * next command (no command inside a fetch loop), every result that can be `false` is checked, and a
 * connection that died mid-fetch is an error, never "fewer messages".
 */
import type { FetchMessageObject, ImapFlow, SearchObject } from 'imapflow';

import { MailServiceError } from '../auth/errors';
import {
	decodeTextPart,
	HEADERS_OF_INTEREST,
	messageFromEnvelope,
	parseRawMessage,
	pickHeaders,
	summarizeStructure,
	type AttachmentContent,
	type BodyPart,
	type MessageEnvelope,
} from '../mime/parse';
import {
	encodeImapMessageId,
	type MailAddress,
	type MailMessage,
	type MessageFilters,
} from '../types';

/** How much of each message to download. */
export type MessageContent =
	/** Envelope, structure and the text/HTML parts: no attachment bytes, no MIME parsing. */
	| 'summary'
	/** The whole message, parsed (attachments available as bytes). */
	| 'parsed'
	/** The whole message as bytes, summarised from the envelope (not parsed). */
	| 'raw';

export interface FetchedMessage {
	message: MailMessage;
	attachments: AttachmentContent[];
	full?: Record<string, unknown>;
	raw?: Buffer;
}

/** An opened folder: the session, where it is, and its UIDVALIDITY. */
export interface OpenFolder {
	client: ImapFlow;
	mailbox: string;
	/** The folder path as users write it. */
	folder: string;
	uidValidity: string;
	uidNext: number;
	exists: number;
}

/** A dead socket must never read as "no mail": fail loudly instead. */
export function assertUsable(client: ImapFlow, what: string): void {
	if (!client.usable) {
		throw new MailServiceError(
			`The IMAP connection closed during ${what}`,
			'Nothing was lost: the next poll or run starts again from the same place.',
			'network',
			'ECONNRESET',
		);
	}
}

function serverFailed(what: string): MailServiceError {
	return new MailServiceError(
		`The IMAP server did not complete ${what}`,
		'Try again; if it keeps failing, check that the mailbox is reachable and the folder still exists.',
		'network',
	);
}

const METADATA_QUERY = {
	uid: true,
	flags: true,
	envelope: true,
	bodyStructure: true,
	internalDate: true,
	size: true,
	headers: HEADERS_OF_INTEREST,
} as const;

function envelopeOf(open: OpenFolder, m: FetchMessageObject): MessageEnvelope {
	const location = { folder: open.folder, uidValidity: open.uidValidity, uid: m.uid };
	return {
		...m.envelope,
		id: encodeImapMessageId(location),
		mailbox: open.mailbox,
		folder: open.folder,
		uidValidity: open.uidValidity,
		uid: m.uid,
		flags: m.flags ?? new Set<string>(),
		internalDate: m.internalDate,
		size: m.size ?? 0,
	};
}

/** The cheap view of a message: what filters and the summary output need. */
export interface MessageMetadata {
	uid: number;
	envelope: MessageEnvelope;
	headers: Record<string, string>;
	structure?: BodyPart;
	size: number;
}

async function fetchAllChecked(
	open: OpenFolder,
	uids: number[],
	query: Parameters<ImapFlow['fetchAll']>[1],
	what: string,
): Promise<FetchMessageObject[]> {
	if (!uids.length) return [];
	assertUsable(open.client, what);
	let result: FetchMessageObject[];
	try {
		result = await open.client.fetchAll(uids, query, { uid: true });
	} catch (error) {
		assertUsable(open.client, what);
		throw error;
	}
	// fetchAll may end early when the socket closes: a short list is then not the whole answer.
	assertUsable(open.client, what);
	if (!Array.isArray(result)) throw serverFailed(what);
	return result;
}

/** Envelope, flags, size, structure and headers of interest for the given UIDs (ascending). */
export async function fetchMetadata(open: OpenFolder, uids: number[]): Promise<MessageMetadata[]> {
	const fetched = await fetchAllChecked(open, uids, METADATA_QUERY, 'reading message headers');
	return fetched
		.map((m) => ({
			uid: m.uid,
			envelope: envelopeOf(open, m),
			headers: pickHeaders(m.headers),
			structure: m.bodyStructure as BodyPart | undefined,
			size: m.size ?? 0,
		}))
		.sort((a, b) => a.uid - b.uid);
}

function partKey(summary: ReturnType<typeof summarizeStructure>): string[] {
	return [
		summary.textPart?.part ?? (summary.textPart ? '1' : ''),
		summary.htmlPart?.part ?? '',
	].filter(Boolean);
}

/** Summaries with text and HTML bodies, downloading only the text parts (grouped by part number). */
async function fetchSummaries(
	open: OpenFolder,
	metadata: MessageMetadata[],
): Promise<FetchedMessage[]> {
	const summaries = new Map(metadata.map((m) => [m.uid, summarizeStructure(m.structure)]));
	const groups = new Map<string, number[]>();
	for (const m of metadata) {
		const key = partKey(summaries.get(m.uid)!).join(',');
		if (!key) continue;
		groups.set(key, [...(groups.get(key) ?? []), m.uid]);
	}
	const bodies = new Map<number, Map<string, Buffer>>();
	for (const [key, uids] of groups) {
		const fetched = await fetchAllChecked(
			open,
			uids,
			{ uid: true, bodyParts: key.split(',') },
			'reading message bodies',
		);
		for (const m of fetched) bodies.set(m.uid, m.bodyParts ?? new Map());
	}
	return metadata.map((m) => {
		const summary = summaries.get(m.uid)!;
		const parts = bodies.get(m.uid);
		const message = messageFromEnvelope(m.envelope, m.headers);
		const single = !m.structure?.childNodes?.length;
		const read = (part: BodyPart | undefined) =>
			part ? decodeTextPart(part, parts?.get(part.part ?? (single ? '1' : ''))) : null;
		message.text = read(summary.textPart);
		message.html = read(summary.htmlPart);
		message.attachments = summary.attachments;
		message.hasAttachments = summary.attachments.some((a) => !a.inline);
		return { message, attachments: [] };
	});
}

/** Downloads the messages (metadata already read) in the requested depth, oldest first. */
export async function fetchMessages(
	open: OpenFolder,
	metadata: MessageMetadata[],
	content: MessageContent,
	options: { full?: boolean } = {},
): Promise<FetchedMessage[]> {
	if (!metadata.length) return [];
	if (content === 'summary') return await fetchSummaries(open, metadata);
	const sources = new Map<number, Buffer>();
	const fetched = await fetchAllChecked(
		open,
		metadata.map((m) => m.uid),
		{ uid: true, source: true },
		'downloading messages',
	);
	for (const m of fetched) if (m.source) sources.set(m.uid, m.source);
	const result: FetchedMessage[] = [];
	for (const m of metadata) {
		const raw = sources.get(m.uid);
		// Expunged between search and fetch: it is gone, not lost.
		if (!raw) continue;
		if (content === 'raw') {
			const message = messageFromEnvelope(m.envelope, m.headers);
			const summary = summarizeStructure(m.structure);
			message.attachments = summary.attachments;
			message.hasAttachments = summary.attachments.some((a) => !a.inline);
			result.push({ message, attachments: [], raw });
			continue;
		}
		const parsed = await parseRawMessage(raw, m.envelope, options);
		result.push({ ...parsed, raw });
	}
	return result;
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
	if (filters.subjectContains) query.subject = filters.subjectContains;
	if (filters.receivedAfter) query.since = filters.receivedAfter;
	if (filters.receivedBefore) query.before = filters.receivedBefore;
	if (filters.from?.length === 1) query.from = filters.from[0];
	else if (filters.from?.length) query.or = filters.from.map((from) => ({ from }));
	if (!Object.keys(query).length) query.all = true;
	return query;
}

/** UIDs matching the server-side query, ascending; `false` from imapflow is an error. */
export async function searchUids(open: OpenFolder, query: SearchObject): Promise<number[]> {
	assertUsable(open.client, 'searching');
	const result = await open.client.search(query, { uid: true });
	if (!Array.isArray(result)) {
		assertUsable(open.client, 'searching');
		throw serverFailed('the search');
	}
	return [...result].sort((a, b) => a - b);
}

/** Adds or removes flags; a falsy answer from the server is a failure. */
export async function changeFlags(
	open: OpenFolder,
	uids: number[],
	change: { add?: string[]; remove?: string[] },
): Promise<void> {
	if (!uids.length) return;
	if (change.add?.length) {
		const ok = await open.client.messageFlagsAdd(uids, change.add, { uid: true });
		if (!ok) throw serverFailed(`adding ${change.add.join(', ')}`);
	}
	if (change.remove?.length) {
		const ok = await open.client.messageFlagsRemove(uids, change.remove, { uid: true });
		if (!ok) throw serverFailed(`removing ${change.remove.join(', ')}`);
	}
}

/** Moves or copies messages; returns the new UID of each (UIDPLUS), keyed by the old one. */
export async function transferMessages(
	open: OpenFolder,
	uids: number[],
	destinationServerPath: string,
	mode: 'move' | 'copy',
): Promise<{ uidValidity?: string; uidMap: Map<number, number> }> {
	if (!uids.length) return { uidMap: new Map() };
	const result =
		mode === 'move'
			? await open.client.messageMove(uids, destinationServerPath, { uid: true })
			: await open.client.messageCopy(uids, destinationServerPath, { uid: true });
	if (!result) throw serverFailed(mode === 'move' ? 'the move' : 'the copy');
	return {
		uidValidity: result.uidValidity !== undefined ? String(result.uidValidity) : undefined,
		uidMap: result.uidMap ?? new Map(),
	};
}

/** Flags as deleted and expunges (UID EXPUNGE where the server has UIDPLUS): permanent. */
export async function deletePermanently(open: OpenFolder, uids: number[]): Promise<void> {
	if (!uids.length) return;
	const ok = await open.client.messageDelete(uids, { uid: true });
	if (!ok) throw serverFailed('the delete');
}

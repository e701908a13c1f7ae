/**
 * Reading and changing messages over IMAP. Rules from imapflow: every fetch is collected before the
 * next command (no command inside a fetch loop), every result that can be `false` is checked, and a
 * connection that died mid-fetch is an error, never "fewer messages".
 */
import type { FetchMessageObject, ImapFlow, SearchObject } from 'imapflow';

import { MailServiceError } from '../auth/errors';
import {
	HEADERS_OF_INTEREST,
	messageFromEnvelope,
	parseRawMessage,
	pickHeaders,
	summarizeStructure,
	type MessageEnvelope,
} from '../mime/parse';
import { decodeTextPart, type BodyPart } from '../mime/decode';
import { htmlToPlainText } from '../mime/text';
import {
	encodeImapMessageId,
	TEXT_LIMIT_BYTES,
	type FetchedMessage,
	type MessageContent,
} from '../types';

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

/** The size of each message (RFC822.SIZE), ascending by UID: cheap, for limits before a download. */
export async function fetchSizes(
	open: OpenFolder,
	uids: number[],
): Promise<Array<{ uid: number; size: number }>> {
	const fetched = await fetchAllChecked(open, uids, { uid: true, size: true }, 'reading sizes');
	return fetched.map((m) => ({ uid: m.uid, size: m.size ?? 0 })).sort((a, b) => a.uid - b.uid);
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
		// A partial FETCH: a sender's 100 MB "text" part costs TEXT_LIMIT_BYTES at most.
		const parts = key.split(',').map((part) => ({ key: part, maxLength: TEXT_LIMIT_BYTES }));
		const fetched = await fetchAllChecked(
			open,
			uids,
			{ uid: true, bodyParts: parts as unknown as string[] },
			'reading message bodies',
		);
		for (const m of fetched) bodies.set(m.uid, m.bodyParts ?? new Map());
	}
	const result: FetchedMessage[] = [];
	for (const m of metadata) {
		const summary = summaries.get(m.uid)!;
		const parts = bodies.get(m.uid);
		const message = messageFromEnvelope(m.envelope, m.headers);
		const single = !m.structure?.childNodes?.length;
		const read = (part: BodyPart | undefined) =>
			part ? decodeTextPart(part, parts?.get(part.part ?? (single ? '1' : ''))) : null;
		message.text = read(summary.textPart);
		message.html = read(summary.htmlPart);
		if ([summary.textPart, summary.htmlPart].some((p) => (p?.size ?? 0) > TEXT_LIMIT_BYTES))
			message.truncated = true;
		message.attachments = summary.attachments;
		message.hasAttachments = summary.attachments.some((a) => !a.inline);
		// HTML-only mail still gets a text rendering, as the parsed outputs have.
		if (message.text === null && message.html) message.text = await htmlToPlainText(message.html);
		result.push({ message, attachments: [] });
	}
	return result;
}

/** Whole messages are downloaded this many at a time, so memory stays bounded. */
const SOURCE_BATCH = 50;

/**
 * Runs one FETCH per batch, asking for the next batch before the current one is handled, so the
 * server streams while we parse. Each FETCH completes before any other command is sent.
 */
async function* fetchInBatches(
	open: OpenFolder,
	uids: number[],
	query: Parameters<ImapFlow['fetchAll']>[1],
	what: string,
): AsyncGenerator<FetchMessageObject[]> {
	const batches: number[][] = [];
	for (let i = 0; i < uids.length; i += SOURCE_BATCH) batches.push(uids.slice(i, i + SOURCE_BATCH));
	if (!batches.length) return;
	let next = fetchAllChecked(open, batches[0], query, what);
	for (let b = 0; b < batches.length; b++) {
		const fetched = await next;
		if (b + 1 < batches.length) {
			next = fetchAllChecked(open, batches[b + 1], query, what);
			// Awaited on the next turn; meanwhile an early failure must not count as unhandled.
			next.catch(() => undefined);
		}
		yield fetched.sort((x, y) => x.uid - y.uid);
	}
}

async function fromSource(
	m: MessageMetadata,
	raw: Buffer,
	content: 'parsed' | 'raw',
	options: { full?: boolean; keepRaw?: boolean },
): Promise<FetchedMessage> {
	if (content === 'raw') {
		const message = messageFromEnvelope(m.envelope, m.headers);
		const summary = summarizeStructure(m.structure);
		message.attachments = summary.attachments;
		message.hasAttachments = summary.attachments.some((a) => !a.inline);
		return { message, attachments: [], raw };
	}
	const parsed = await parseRawMessage(raw, m.envelope, options);
	return options.keepRaw ? { ...parsed, raw } : parsed;
}

/** Downloads the messages (metadata already read) in the requested depth, oldest first. */
export async function fetchMessages(
	open: OpenFolder,
	metadata: MessageMetadata[],
	content: MessageContent,
	options: { full?: boolean; keepRaw?: boolean } = {},
): Promise<FetchedMessage[]> {
	if (!metadata.length) return [];
	if (content === 'summary') {
		// Text parts in batches too: a poll of hundreds of messages must not hold them all at once.
		const result: FetchedMessage[] = [];
		for (let i = 0; i < metadata.length; i += SOURCE_BATCH * 2) {
			result.push(...(await fetchSummaries(open, metadata.slice(i, i + SOURCE_BATCH * 2))));
		}
		return result;
	}
	const byUid = new Map(metadata.map((m) => [m.uid, m]));
	const result: FetchedMessage[] = [];
	const uids = metadata.map((m) => m.uid);
	for await (const batch of fetchInBatches(
		open,
		uids,
		{ uid: true, source: true },
		'downloading messages',
	)) {
		for (const fetched of batch) {
			const m = byUid.get(fetched.uid);
			// Expunged between search and fetch: it is gone, not lost.
			if (m && fetched.source) result.push(await fromSource(m, fetched.source, content, options));
		}
	}
	return result;
}

/**
 * Downloads whole messages with their envelope in one pass (no separate metadata round trip): for
 * parsed and raw output when every filter already ran on the server.
 */
export async function fetchCompleteMessages(
	open: OpenFolder,
	uids: number[],
	content: 'parsed' | 'raw',
	options: { full?: boolean; keepRaw?: boolean } = {},
): Promise<FetchedMessage[]> {
	const query = {
		uid: true,
		flags: true,
		envelope: true,
		internalDate: true,
		size: true,
		source: true,
		bodyStructure: content === 'raw',
	};
	const result: FetchedMessage[] = [];
	for await (const batch of fetchInBatches(open, uids, query, 'downloading messages')) {
		for (const fetched of batch) {
			if (!fetched.source) continue;
			const headerEnd = fetched.source.indexOf('\r\n\r\n');
			const metadata: MessageMetadata = {
				uid: fetched.uid,
				envelope: envelopeOf(open, fetched),
				headers: pickHeaders(fetched.source.subarray(0, headerEnd < 0 ? 64 * 1024 : headerEnd)),
				structure: fetched.bodyStructure as BodyPart | undefined,
				size: fetched.size ?? fetched.source.length,
			};
			result.push(await fromSource(metadata, fetched.source, content, options));
		}
	}
	return result;
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

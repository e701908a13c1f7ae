/**
 * Checked FETCH over IMAP, the layer every download stands on. Rules from imapflow: every fetch is
 * collected before the next command (no command inside a fetch loop), every result that can be
 * `false` is checked, and a connection that died mid-fetch is an error, never "fewer messages".
 */
import type { FetchMessageObject, ImapFlow } from 'imapflow';

import { MailServiceError } from '../auth/errors';
import type { BodyPart } from '../mime/decode';
import { HEADERS_OF_INTEREST, pickHeaders, type MessageEnvelope } from '../mime/parse';
import { splitMessage, splitTools, type SplitMessage, type SplitTools } from '../mime/split';
import { BULK_MIN_MESSAGES, bulkFetch, canBulkFetch } from './bulk';
import { encodeImapMessageId } from '../types';
import { silenceError } from './session';

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
		throw (
			silenceError(client, what) ??
			new MailServiceError(
				`The IMAP connection closed during ${what}`,
				'Nothing was lost: the next poll or run starts again from the same place.',
				'network',
				'ECONNRESET',
			)
		);
	}
}

export function serverFailed(what: string): MailServiceError {
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

export function envelopeOf(open: OpenFolder, m: FetchMessageObject): MessageEnvelope {
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

export async function fetchAllChecked(
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

/** Whether these messages are read by our own FETCH reader (bulk.ts) instead of imapflow's. */
export function readInBulk(open: OpenFolder, uids: number[]): boolean {
	return uids.length >= BULK_MIN_MESSAGES && canBulkFetch(open.client);
}

/** The size of each message (RFC822.SIZE), ascending by UID: cheap, for limits before a download. */
export async function fetchSizes(
	open: OpenFolder,
	uids: number[],
): Promise<Array<{ uid: number; size: number }>> {
	if (readInBulk(open, uids)) {
		const sizes: Array<{ uid: number; size: number }> = [];
		for await (const batch of bulkFetch(open.client, uids, 'sizes'))
			for (const m of batch) sizes.push({ uid: m.uid, size: m.size ?? 0 });
		return sizes.sort((a, b) => a.uid - b.uid);
	}
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

/** Whole messages are downloaded this many at a time, so memory stays bounded. */
export const SOURCE_BATCH = 50;

/**
 * Runs one FETCH per batch, asking for the next batch before the current one is handled, so the
 * server streams while we parse. Each FETCH completes before any other command is sent.
 */
export async function* fetchInBatches(
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

/** A message downloaded whole, with the envelope and structure read from its split. */
export interface WholeMessage {
	metadata: MessageMetadata;
	split: SplitMessage;
	source: Buffer;
}

/** The downloaded message handed on with its envelope and structure from its split. */
export function wholeOf(
	open: OpenFolder,
	tools: SplitTools,
	fetched: Pick<FetchMessageObject, 'uid' | 'flags' | 'internalDate' | 'size'> & { source: Buffer },
): WholeMessage {
	const split = splitMessage(tools, fetched.source);
	const metadata: MessageMetadata = {
		uid: fetched.uid,
		envelope: envelopeOf(open, { ...fetched, envelope: split.envelope } as never),
		headers: pickHeaders(split.header),
		structure: split.structure,
		size: fetched.size ?? fetched.source.length,
	};
	return { metadata, split, source: fetched.source };
}

/**
 * Downloads whole messages, oldest first, without the server's ENVELOPE or BODYSTRUCTURE: both come
 * from the split of the message (the same; test/integration/split.test.ts), which every reader of
 * whole messages needs anyway. A drain of BULK_MIN_MESSAGES or more is one FETCH read by our own
 * reader (bulk.ts); fewer go through imapflow in batches.
 */
export async function* fetchWhole(open: OpenFolder, uids: number[]): AsyncGenerator<WholeMessage> {
	const tools = await splitTools();
	if (readInBulk(open, uids)) {
		const sorted = [...uids].sort((a, b) => a - b);
		// Servers answer in sequence order, which is UID order: still, hand them on oldest first.
		for await (const batch of bulkFetch(open.client, sorted, 'whole')) {
			batch.sort((x, y) => x.uid - y.uid);
			for (const fetched of batch)
				if (fetched.source) yield wholeOf(open, tools, { ...fetched, source: fetched.source });
		}
		return;
	}
	const query = { uid: true, flags: true, internalDate: true, size: true, source: true };
	for await (const batch of fetchInBatches(open, uids, query, 'downloading messages')) {
		for (const fetched of batch) {
			if (!fetched.source) continue;
			yield wholeOf(open, tools, { ...fetched, source: fetched.source });
		}
	}
}

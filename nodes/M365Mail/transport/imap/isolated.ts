/**
 * Downloads that never pass over a message in silence. A batch the server refuses is fetched again
 * message by message, and a message refused alone is handed on with a `parseError`. A message the
 * server leaves out of an answer that ended OK is not taken for gone either: UID SEARCH says whether
 * it is still in the folder, and if it is, it is asked for again through imapflow and, failing that,
 * handed on as an item that says the server did not send it. Only messages gone from the folder
 * (expunged meanwhile) are left out. A poll's cursor passes every UID it selected, so a message left
 * out here would never be emitted.
 */
import { encodeImapMessageId, type FetchedMessage, type MessageContent } from '../types';
import { messageFromEnvelope } from '../mime/parse';
import { uidSet } from './bulkResponse';
import {
	assertUsable,
	fetchCompleteMessages,
	fetchMessages,
	fetchMetadata,
	fetchSimpleMessages,
	fetchSizes,
	searchUids,
	type MessageMetadata,
	type OpenFolder,
} from './messages';

/** A candidate of a poll: its size, and its metadata where it was read (the envelope filters). */
export type Candidate = Partial<MessageMetadata> & {
	uid: number;
	size: number;
	/** The server answered for it neither with its size nor its metadata: the size is not known. */
	unanswered?: true;
};

/** For the log: the messages still in the folder that the server's answers left out. */
export function leftOutNote(open: OpenFolder, leftOut: number[]): string {
	const uids = [...new Set(leftOut)];
	return `the IMAP server left ${uids.length} message(s) still in ${open.folder} out of its answers (UID ${uids.slice(0, 10).join(', ')}${uids.length > 10 ? ', …' : ''}); they were asked for again`;
}

/**
 * Of the UIDs `wanted`, those an answer (`got`) left out that are still in the open folder, whatever
 * their flags (one expunged meanwhile is gone, not left out); they are added to `leftOut` too.
 */
async function leftOutButHere(
	open: OpenFolder,
	wanted: number[],
	got: Array<{ uid?: number }>,
	leftOut: number[],
): Promise<number[]> {
	const answered = new Set(got.map((m) => m.uid));
	const missing = wanted.filter((uid) => !answered.has(uid));
	if (!missing.length) return [];
	const here = await searchUids(open, { uid: uidSet(missing) });
	leftOut.push(...here);
	return here;
}

/**
 * The sizes of these candidates (or their metadata, for filters the envelope checks), every one
 * accounted for: one the answer left out is asked for again through imapflow, and one still not
 * answered for comes back `unanswered`. Only UIDs gone from the folder are missing. The UIDs the
 * answer left out that were still there are added to `leftOut` (for the log).
 */
export async function readCandidates(
	open: OpenFolder,
	uids: number[],
	metadata: boolean,
	leftOut: number[] = [],
): Promise<Candidate[]> {
	const read: Candidate[] = metadata
		? await fetchMetadata(open, uids)
		: await fetchSizes(open, uids);
	const here = await leftOutButHere(open, uids, read, leftOut);
	if (!here.length) return read;
	const again = await fetchMetadata(open, here);
	const found = new Set(again.map((m) => m.uid));
	const unanswered = here
		.filter((uid) => !found.has(uid))
		.map((uid) => ({ uid, size: 0, unanswered: true as const }));
	return [...read, ...again, ...unanswered].sort((a, b) => a.uid - b.uid);
}

/**
 * An item for a message in the folder that the server would not send: its envelope where the server
 * gave it, else its id alone, and why.
 */
function unsent(open: OpenFolder, uid: number, metadata?: MessageMetadata): FetchedMessage {
	const location = { folder: open.folder, uidValidity: open.uidValidity, uid };
	const message = metadata
		? messageFromEnvelope(metadata.envelope, metadata.headers)
		: messageFromEnvelope({
				id: encodeImapMessageId(location),
				mailbox: open.mailbox,
				...location,
				flags: [],
				size: 0,
			});
	message.parseError = `The IMAP server did not send this message (UID ${uid}), though it is in the folder. Open it in Outlook, or read it again with Message > Get by its id; a message that cannot be opened is damaged on the server.`;
	return { message, attachments: [] };
}

/**
 * The download of `selected` with every selected message accounted for (see the top of this file),
 * oldest first. `admit` decides on messages whose metadata is read only here (filters checked on the
 * envelope). The UIDs the download left out that were still there are added to `leftOut`.
 */
export async function accountFor(
	open: OpenFolder,
	selected: number[],
	downloaded: FetchedMessage[],
	read: { content: MessageContent; full?: boolean; keepRaw?: boolean; attachmentContent?: boolean },
	admit: (m: MessageMetadata) => boolean = () => true,
	leftOut: number[] = [],
): Promise<FetchedMessage[]> {
	const got = downloaded.map((m) => ({ uid: m.message.uid }));
	const here = await leftOutButHere(open, selected, got, leftOut);
	if (!here.length) return downloaded;
	const metadata = await fetchMetadata(open, here);
	const described = new Set(metadata.map((m) => m.uid));
	const admitted = metadata.filter(admit);
	const again = await fetchIsolated(open, admitted, read.content, read);
	const sent = new Set(again.map((m) => m.message.uid));
	const missing = [
		...admitted.filter((m) => !sent.has(m.uid)).map((m) => unsent(open, m.uid, m)),
		...here.filter((uid) => !described.has(uid)).map((uid) => unsent(open, uid)),
	];
	return [...downloaded, ...again, ...missing].sort(
		(a, b) => (a.message.uid ?? 0) - (b.message.uid ?? 0),
	);
}

/**
 * Downloads the selected messages. A batch the server refuses is fetched again message by message;
 * a message refused alone is handed on with a `parseError` instead of blocking the ones after it.
 */
export async function fetchIsolated(
	open: OpenFolder,
	selected: MessageMetadata[],
	content: MessageContent,
	options: { full?: boolean; keepRaw?: boolean; attachmentContent?: boolean },
): Promise<FetchedMessage[]> {
	try {
		return await fetchMessages(open, selected, content, options);
	} catch (error) {
		assertUsable(open.client, 'downloading messages');
		if (selected.length === 0) throw error;
	}
	const result: FetchedMessage[] = [];
	for (const m of selected) {
		try {
			result.push(...(await fetchMessages(open, [m], content, options)));
		} catch (error) {
			assertUsable(open.client, 'downloading a message');
			const message = messageFromEnvelope(m.envelope, m.headers);
			message.parseError = `The server refused to send this message: ${(error as Error).message}`;
			result.push({ message, attachments: [] });
		}
	}
	return result;
}

/** As fetchIsolated, for the one-pass download of whole messages by UID. */
export async function downloadIsolated(
	open: OpenFolder,
	uids: number[],
	content: 'parsed' | 'raw',
	options: { full?: boolean; keepRaw?: boolean; attachmentContent?: boolean },
): Promise<FetchedMessage[]> {
	try {
		return await fetchCompleteMessages(open, uids, content, options);
	} catch {
		assertUsable(open.client, 'downloading messages');
	}
	// The server refused the batch: the metadata path fetches message by message.
	return await fetchIsolated(open, await fetchMetadata(open, uids), content, options);
}

/** As downloadIsolated, for the simple output of messages whose sizes are known. */
export async function simpleIsolated(
	open: OpenFolder,
	selected: Array<{ uid: number; size: number }>,
): Promise<FetchedMessage[]> {
	try {
		return await fetchSimpleMessages(open, selected);
	} catch {
		assertUsable(open.client, 'downloading messages');
	}
	const metadata = await fetchMetadata(
		open,
		selected.map((m) => m.uid),
	);
	return await fetchIsolated(open, metadata, 'summary', {});
}

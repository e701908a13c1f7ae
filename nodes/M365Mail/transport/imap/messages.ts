/**
 * Reading and changing messages over IMAP: downloads in the output's depth (parsed, raw; the simple
 * output is in simple.ts), search, flags, moves and deletes. The checked FETCH is in fetch.ts.
 */
import type { SearchObject } from 'imapflow';

import { MailServiceError } from '../auth/errors';
import { messageFromEnvelope, parseRawMessage, summarizeStructure } from '../mime/parse';
import type { SplitMessage } from '../mime/split';
import type { FetchedMessage, MessageContent } from '../types';
import {
	assertUsable,
	fetchInBatches,
	fetchWhole,
	serverFailed,
	type MessageMetadata,
	type OpenFolder,
} from './fetch';
import { fetchSummaries } from './simple';

/** A message id from before the folder's UIDVALIDITY changed: its UID may now name another. */
export const outOfDate = (folder: string) =>
	new MailServiceError(
		`The message ID is out of date: folder "${folder}" was reset by the server`,
		'Read the message again (trigger or Get Many) and use the new id.',
		'notFound',
	);

export {
	assertUsable,
	fetchMetadata,
	fetchSizes,
	type MessageMetadata,
	type OpenFolder,
} from './fetch';
export { fetchSimpleMessages, WHOLE_MESSAGE_LIMIT } from './simple';

async function fromSource(
	m: MessageMetadata,
	raw: Buffer,
	content: 'parsed' | 'raw',
	options: { full?: boolean; keepRaw?: boolean; attachmentContent?: boolean; split?: SplitMessage },
): Promise<FetchedMessage> {
	if (content === 'raw') {
		const message = messageFromEnvelope(m.envelope, m.headers);
		const summary = summarizeStructure(m.structure);
		message.attachments = summary.attachments;
		message.hasAttachments = summary.attachments.some((a) => !a.inline);
		return { message, attachments: [], raw };
	}
	const parsed = await parseRawMessage(raw, m.envelope, options);
	if (options.attachmentContent === false) parsed.attachments = [];
	return options.keepRaw ? { ...parsed, raw } : parsed;
}

/** Downloads the messages (metadata already read) in the requested depth, oldest first. */
export async function fetchMessages(
	open: OpenFolder,
	metadata: MessageMetadata[],
	content: MessageContent,
	options: { full?: boolean; keepRaw?: boolean; attachmentContent?: boolean } = {},
): Promise<FetchedMessage[]> {
	if (!metadata.length) return [];
	if (content === 'summary') {
		return await fetchSummaries(open, metadata);
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
	options: { full?: boolean; keepRaw?: boolean; attachmentContent?: boolean } = {},
): Promise<FetchedMessage[]> {
	const result: FetchedMessage[] = [];
	for await (const { metadata, split, source } of fetchWhole(open, uids))
		result.push(await fromSource(metadata, source, content, { ...options, split }));
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

/**
 * What the trigger does later to messages it emitted, by their ids: the "after emitting" actions,
 * the at-least-once option's look at which are still unread, and a repeated emit's download. An id
 * names a UID under one UIDVALIDITY; after the server reset the folder, a message emitted before is
 * found again by its Message-ID (`foundAgain`).
 */
import type { ImapFlow } from 'imapflow';

import { MailServiceError } from '../auth/errors';
import {
	decodeImapMessageId,
	encodeImapMessageId,
	type AfterEmit,
	type FetchedMessage,
} from '../types';
import { resolveFolder } from './folders';
import { fetchIsolated } from './isolated';
import { readingFolder, withFolder } from './lock';
import {
	changeFlags,
	fetchMetadata,
	searchUids,
	transferMessages,
	type OpenFolder,
} from './messages';
import type { PollOptions } from './poll';

/** The ids that belong to the open folder as it is now, by UID, ascending (other ids are ignored). */
function uidsHere(open: OpenFolder, ids: string[]): Map<number, string> {
	const here = new Map<number, string>();
	for (const id of ids) {
		try {
			const location = decodeImapMessageId(id);
			if (
				location.uidValidity === open.uidValidity &&
				location.folder.toLowerCase() === open.folder.toLowerCase()
			)
				here.set(location.uid, id);
		} catch {
			// Not an IMAP id of ours: nothing to act on.
		}
	}
	return new Map([...here].sort(([a], [b]) => a - b));
}

/** A Message-ID searched for: printable ASCII in angle brackets (Exchange refuses 8-bit SEARCH). */
const SEARCHABLE_MESSAGE_ID = /^<[ -~]{1,250}>$/;

/**
 * Messages emitted under an earlier UIDVALIDITY of this folder, found again by their Message-IDs
 * (`messageIds`: id to Message-ID, as the engine remembers them): the server reset the folder
 * between the emit and a look at it. SEARCH HEADER matches substrings, so the envelopes are checked.
 * Answers each UID found with the id it was emitted under.
 */
async function foundAgain(
	open: OpenFolder,
	ids: string[],
	messageIds: ReadonlyMap<string, string | null> | undefined,
): Promise<Map<number, string>> {
	const wanted = new Map<string, string>();
	for (const id of ids) {
		const messageId = messageIds?.get(id);
		if (!messageId || !SEARCHABLE_MESSAGE_ID.test(messageId)) continue;
		try {
			const location = decodeImapMessageId(id);
			if (
				location.uidValidity !== open.uidValidity &&
				location.folder.toLowerCase() === open.folder.toLowerCase()
			)
				wanted.set(messageId, id);
		} catch {
			// Not an IMAP id of ours.
		}
	}
	const found = new Map<number, string>();
	const list = [...wanted.keys()];
	for (let i = 0; i < list.length; i += 20) {
		const batch = list.slice(i, i + 20);
		const headers = batch.map((messageId) => ({ header: { 'message-id': messageId } }));
		let uids: number[];
		try {
			uids = await searchUids(open, headers.length > 1 ? { or: headers } : headers[0]);
		} catch (error) {
			// A server that refuses the search leaves those messages as they are (as before a reset
			// could be looked through); failing here would fail every poll on the owed action.
			if (!open.client.usable) throw error;
			break;
		}
		if (!uids.length) continue;
		for (const m of await fetchMetadata(open, uids)) {
			const id = wanted.get(m.envelope.messageId ?? '');
			if (id !== undefined) found.set(m.uid, id);
		}
	}
	return found;
}

/**
 * The emitted messages in the open folder as it is now, by UID, ascending, each with the id it was
 * emitted under: those of this UIDVALIDITY, and those of an earlier one found by Message-ID.
 */
async function emittedHere(
	open: OpenFolder,
	ids: string[],
	messageIds: ReadonlyMap<string, string | null> | undefined,
): Promise<Map<number, string>> {
	const here = uidsHere(open, ids);
	for (const [uid, id] of await foundAgain(open, ids, messageIds))
		if (!here.has(uid)) here.set(uid, id);
	return new Map([...here].sort(([a], [b]) => a - b));
}

/**
 * Applies an "after emitting" action to messages of the watched folder. Safe to repeat: a message
 * already marked, or already moved away (its UID is gone), is left alone. One emitted before the
 * server reset the folder is found by its Message-ID (`foundAgain`).
 */
export async function applyAction(
	client: ImapFlow,
	mailbox: string,
	folder: string,
	action: AfterEmit,
	ids: string[],
	messageIds?: ReadonlyMap<string, string | null>,
): Promise<void> {
	if (action.action === 'none' || !ids.length) return;
	await withFolder(client, mailbox, folder, { readOnly: false }, async (open, watched) => {
		const wanted = [...(await emittedHere(open, ids, messageIds)).keys()];
		if (!wanted.length) return;
		// Only UIDs still here: UID STORE/MOVE on the rest would be no-ops, but MOVE of none fails.
		const present = await searchUids(open, { uid: wanted.join(',') });
		if (!present.length) return;
		if (action.action === 'markRead' || action.action === 'flag') {
			await changeFlags(open, present, {
				add: [action.action === 'flag' ? '\\Flagged' : '\\Seen'],
			});
			return;
		}
		const destination = await resolveFolder(
			client,
			mailbox,
			action.action === 'move' ? action.folder : 'deleteditems',
		);
		if (destination.serverPath === watched.serverPath) {
			throw new MailServiceError(
				`"After emitting" would move messages into the watched folder ${open.folder}`,
				'Choose another folder to move emitted messages to.',
				'input',
			);
		}
		await transferMessages(open, present, destination.serverPath, 'move');
	});
}

/**
 * Which of these ids are still in the folder and unread, each with its id now: the same, or, for a
 * message emitted before the server reset the folder, the id of its new UID (found by Message-ID).
 */
export async function unreadAmong(
	client: ImapFlow,
	mailbox: string,
	folder: string,
	ids: string[],
	messageIds?: ReadonlyMap<string, string | null>,
): Promise<Map<string, string>> {
	return await withFolder(client, mailbox, folder, { readOnly: true }, async (open) => {
		const emitted = await emittedHere(open, ids, messageIds);
		const now = new Map<string, string>();
		if (!emitted.size) return now;
		const unread = await searchUids(open, { uid: [...emitted.keys()].join(','), seen: false });
		for (const uid of unread) {
			const id = emitted.get(uid);
			if (id === undefined) continue;
			// One emitted under an earlier UIDVALIDITY is now the id of the UID it was found under.
			const location = { folder: open.folder, uidValidity: open.uidValidity, uid };
			const same = decodeImapMessageId(id).uidValidity === open.uidValidity;
			now.set(id, same ? id : encodeImapMessageId(location));
		}
		return now;
	});
}

/** Downloads these messages of the folder again, oldest first. */
export async function fetchByIds(
	client: ImapFlow,
	options: Pick<PollOptions, 'mailbox' | 'folder' | 'content' | 'full' | 'keepRaw'>,
	ids: string[],
): Promise<FetchedMessage[]> {
	return await readingFolder(client, options, async (open) => {
		const metadata = await fetchMetadata(open, [...uidsHere(open, ids).keys()]);
		return await fetchIsolated(open, metadata, options.content, options);
	});
}

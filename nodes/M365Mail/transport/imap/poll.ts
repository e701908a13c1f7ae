/**
 * New-mail detection over IMAP with a `{uidValidity, lastUid}` cursor: exactly the new unread
 * messages, each once. The caller stores the returned cursor only when it emits the messages, so a
 * failed poll leaves the cursor where it was.
 */
import type { ImapFlow } from 'imapflow';

import { MailServiceError } from '../auth/errors';
import { encodeImapMessageId, type MessageFilters } from '../types';
import { resolveFolder } from './folders';
import { withFolder } from './mailbox';
import {
	changeFlags,
	fetchCompleteMessages,
	fetchMessages,
	fetchMetadata,
	matchesFilters,
	needsEnvelopeCheck,
	searchQuery,
	searchUids,
	transferMessages,
	type FetchedMessage,
	type MessageContent,
	type MessageMetadata,
	type OpenFolder,
} from './messages';

export interface ImapCursor {
	uidValidity: string;
	lastUid: number;
}

export type AfterEmit =
	| { action: 'none' }
	| { action: 'markRead' }
	| { action: 'move'; folder: string }
	/** Moves to Deleted Items (recoverable), as Outlook's Delete does. */
	| { action: 'delete' };

export interface PollOptions {
	mailbox: string;
	folder: string;
	cursor?: ImapCursor;
	/** With no cursor yet: start after the newest message, or include the unread mail already there. */
	startFrom: 'now' | 'existing';
	filters: MessageFilters;
	maxMessages: number;
	content: MessageContent;
	full?: boolean;
	/** Keep the raw bytes of parsed messages (for raw output with attachments). */
	keepRaw?: boolean;
	afterEmit: AfterEmit;
	/** Metadata is read in batches of this many UIDs. */
	batchSize?: number;
	/** Epoch ms after which no further batch is started (n8n's poll budget). */
	deadline?: number;
}

export interface PollOutcome {
	messages: FetchedMessage[];
	cursor: ImapCursor;
	/** Set when this poll only (re)started the cursor and emitted nothing. */
	baseline?: 'first' | 'uidValidityChanged';
	/** Messages passed over because of the size limit. */
	skippedTooLarge: Array<{ uid: number; size?: number; subject?: string }>;
	/** More new messages are waiting (limit or time budget reached). */
	more: boolean;
}

/** Envelopes and structures are small: few round trips matter more than batch size. */
const DEFAULT_BATCH = 500;

function chunks<T>(list: T[], size: number): T[][] {
	const result: T[][] = [];
	for (let i = 0; i < list.length; i += size) result.push(list.slice(i, i + size));
	return result;
}

async function applyAfterEmit(
	open: OpenFolder,
	messages: FetchedMessage[],
	afterEmit: AfterEmit,
): Promise<void> {
	const uids = messages.map((m) => m.message.uid!);
	if (!uids.length || afterEmit.action === 'none') return;
	if (afterEmit.action === 'markRead') {
		await changeFlags(open, uids, { add: ['\\Seen'] });
		for (const m of messages) {
			m.message.isRead = true;
			if (!m.message.flags.includes('\\Seen')) m.message.flags.push('\\Seen');
		}
		return;
	}
	const destination =
		afterEmit.action === 'move'
			? await resolveFolder(open.client, open.mailbox, afterEmit.folder)
			: await resolveFolder(open.client, open.mailbox, 'deleteditems');
	if (
		destination.serverPath ===
		(await resolveFolder(open.client, open.mailbox, open.folder)).serverPath
	) {
		throw new MailServiceError(
			`"After emitting" would move messages into the watched folder ${open.folder}`,
			'Choose another folder to move emitted messages to.',
			'notFound',
		);
	}
	const moved = await transferMessages(open, uids, destination.serverPath, 'move');
	// The items must point at where the message now is, so the action node finds it.
	for (const m of messages) {
		const newUid = moved.uidMap.get(m.message.uid!);
		if (newUid === undefined || moved.uidValidity === undefined) continue;
		m.message.folder = destination.path;
		m.message.uid = newUid;
		m.message.uidValidity = moved.uidValidity;
		m.message.id = encodeImapMessageId({
			folder: destination.path,
			uidValidity: moved.uidValidity,
			uid: newUid,
		});
	}
}

/** One poll: the new unread messages above the cursor, oldest first, and the cursor after them. */
export async function pollNewMessages(
	client: ImapFlow,
	options: PollOptions,
): Promise<PollOutcome> {
	const readOnly = options.afterEmit.action === 'none';
	return await withFolder(client, options.mailbox, options.folder, { readOnly }, async (open) => {
		// UIDNEXT bounds the search: mail arriving during the poll waits for the next one.
		const top = open.uidNext > 0 ? open.uidNext - 1 : Number.MAX_SAFE_INTEGER;
		const baselineAt = { uidValidity: open.uidValidity, lastUid: Math.max(top, 0) };
		const none = { messages: [], skippedTooLarge: [], more: false };
		let cursor = options.cursor;
		if (!cursor) {
			if (options.startFrom === 'now') return { ...none, cursor: baselineAt, baseline: 'first' };
			cursor = { uidValidity: open.uidValidity, lastUid: 0 };
		} else if (cursor.uidValidity !== open.uidValidity) {
			// The folder was recreated or the server reset its UIDs: old mail must not come back as new.
			return { ...none, cursor: baselineAt, baseline: 'uidValidityChanged' };
		}
		// Nothing has arrived since the last poll: no SEARCH, no FETCH.
		if (top <= cursor.lastUid) return { ...none, cursor };

		const lastUid = cursor.lastUid;
		const range = `${lastUid + 1}:${top === Number.MAX_SAFE_INTEGER ? '*' : top}`;
		const maxBytes = options.filters.maxSizeBytes;
		const unread = { ...options.filters, unreadOnly: true };
		const skippedTooLarge: PollOutcome['skippedTooLarge'] = [];
		const inRange = (uid: number) => uid > lastUid && uid <= top;
		const content = options.content;

		if (content !== 'summary' && !needsEnvelopeCheck(options.filters)) {
			// Every filter runs in SEARCH (size included): download whole messages in one pass.
			const candidates = (await searchUids(open, searchQuery(unread, range))).filter(inRange);
			const taken = candidates.slice(0, options.maxMessages);
			const more = candidates.length > taken.length;
			const lastExamined = more ? taken[taken.length - 1] : top;
			if (maxBytes) {
				const large = await searchUids(
					open,
					searchQuery({ ...unread, maxSizeBytes: undefined }, range),
				);
				const kept = new Set(candidates);
				for (const uid of large.filter(inRange)) {
					if (!kept.has(uid) && uid <= lastExamined) skippedTooLarge.push({ uid });
				}
			}
			const messages = await fetchCompleteMessages(open, taken, content, options);
			await applyAfterEmit(open, messages, options.afterEmit);
			return {
				messages,
				skippedTooLarge,
				more,
				cursor: {
					uidValidity: open.uidValidity,
					lastUid:
						more || top === Number.MAX_SAFE_INTEGER
							? Math.max(lastUid, taken[taken.length - 1] ?? lastUid)
							: top,
				},
			};
		}

		// The size limit is checked on the envelope here, so skipped messages can be named.
		const candidates = (
			await searchUids(open, searchQuery({ ...unread, maxSizeBytes: undefined }, range))
		).filter(inRange);
		const selected: MessageMetadata[] = [];
		let examined = lastUid;
		let more = false;
		outer: for (const batch of chunks(candidates, options.batchSize ?? DEFAULT_BATCH)) {
			if (options.deadline && Date.now() > options.deadline && selected.length) {
				more = true;
				break;
			}
			for (const m of await fetchMetadata(open, batch)) {
				if (selected.length >= options.maxMessages) {
					more = true;
					break outer;
				}
				examined = m.uid;
				if (!matchesFilters(m, unread)) continue;
				if (maxBytes && m.size > maxBytes) {
					skippedTooLarge.push({ uid: m.uid, size: m.size, subject: m.envelope.subject ?? '' });
					continue;
				}
				selected.push(m);
			}
		}
		const messages = await fetchMessages(open, selected, options.content, options);
		await applyAfterEmit(open, messages, options.afterEmit);
		return {
			messages,
			skippedTooLarge,
			more,
			cursor: {
				uidValidity: open.uidValidity,
				lastUid: more || top === Number.MAX_SAFE_INTEGER ? examined : Math.max(top, examined),
			},
		};
	});
}

/** The newest message matching the filters (unread preferred): the sample of "Fetch Test Event". */
export async function newestMessage(
	client: ImapFlow,
	options: Pick<PollOptions, 'mailbox' | 'folder' | 'filters' | 'content' | 'full' | 'keepRaw'>,
): Promise<FetchedMessage | undefined> {
	return await withFolder(
		client,
		options.mailbox,
		options.folder,
		{ readOnly: true },
		async (open) => {
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
		},
	);
}

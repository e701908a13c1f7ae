/**
 * New-mail detection over Microsoft Graph by a per-folder delta query. Delta pages carry no bodies:
 * a message's content is read only when it is emitted (transport/graph/bodies.ts). The cursor keeps
 * the delta link, the few messages of a page not taken yet (`backlog`), and, while a round runs
 * across polls (a first baseline or a recovery), the time from which messages count as new
 * (`collectFrom`). Nothing here changes a message: the delivery engine decides when
 * (`applyGraphAction`, in emitted.ts).
 */
import { MailServiceError } from '../auth/errors';
import type { FetchedMessage, MessageContent, MessageFilters } from '../types';
import { BodyReader, receivedAt } from './bodies';
import type { GraphClient } from './client';
import {
	forgetGraphFolders,
	graphFolderMark,
	resolveGraphFolder,
	type GraphFolder,
} from './folders';
import {
	fetchGraphContent,
	graphMatches,
	isGone,
	messageFromGraph,
	sizeOf,
	type GraphMessage,
} from './messages';

export interface GraphCursor {
	folderId: string;
	/** The folder as the user named it: a poll with the same name needs no folder lookup. */
	folderPath?: string;
	/** A deltaLink, or the nextLink of a round still running. */
	link: string;
	/** Ids found on a page and not emitted yet (limits), oldest first. */
	backlog?: string[];
	/** During a round that runs across polls: only mail received from then on is new. */
	collectFrom?: string;
	/** When the folder's path last led to `folderId` (see `FOLDER_CHECK_MS`). */
	checkedAt?: string;
}

/**
 * How often a poll looks up the folder's path again instead of following the folder's id. A folder
 * deleted in Outlook moves to Deleted Items and keeps its id (its delta still answers); one created
 * under the same path is another folder.
 */
const FOLDER_CHECK_MS = 10 * 60_000;

export interface GraphPollOptions {
	folder: string;
	cursor?: GraphCursor;
	startFrom: 'now' | 'existing';
	filters: MessageFilters;
	maxMessages: number;
	maxBytes?: number;
	deadline?: number;
	content: MessageContent;
	full?: boolean;
	keepRaw?: boolean;
	/** `false`: attachment bytes are dropped once read (see ReadOptions). */
	attachmentContent?: boolean;
	/** After a reset: mail received since then is recovered. */
	recoverSince?: Date;
	/** With "start from now" and no cursor: the trigger began watching then (see NextRequest). */
	startedAt?: Date;
	/** Emitted before: not a candidate (delta replays, messages moved out and back in). */
	emitted?: (id: string, messageId: string | null) => boolean;
}

export interface GraphPollOutcome {
	messages: FetchedMessage[];
	cursor: GraphCursor;
	baseline?: boolean;
	reset?: 'deltaReset' | 'folderRecreated';
	/** Passed over (size limit), with the reason. */
	skipped: Array<{ id: string; reason: string }>;
	more: boolean;
}

/** What a delta page needs to carry for our filters: no body. */
const DELTA_SELECT =
	'id,subject,from,sender,toRecipients,ccRecipients,replyTo,receivedDateTime,internetMessageId,isRead,importance,hasAttachments,parentFolderId';

/**
 * The largest delta page asked for (as Graph's `$top` for messages); a page Graph caps lower ends
 * in a nextLink.
 */
const DELTA_PAGE_LIMIT = 999;

const RECOVERY_SKEW_MS = 5 * 60_000;

const thisMoment = () => new Date().toISOString();

/**
 * One poll: finish the backlog, then follow the delta link page by page until the limits are reached.
 */
export async function pollGraph(
	client: GraphClient,
	options: GraphPollOptions,
): Promise<GraphPollOutcome> {
	let cursor = options.cursor;
	let reset: GraphPollOutcome['reset'];
	// A stored link for another host (other cloud or endpoint, imported static data) never gets our
	// token: start a new baseline that recovers the gap instead.
	if (cursor && /^https?:/i.test(cursor.link) && !client.isOwnUrl(cursor.link)) {
		cursor = undefined;
		reset = 'deltaReset';
	}
	let checkedAt = cursor?.checkedAt;
	const lookUp = async () => {
		checkedAt = thisMoment();
		return await resolveGraphFolder(client, options.folder);
	};
	const due = !(Date.now() - Date.parse(checkedAt ?? '') < FOLDER_CHECK_MS);
	if (cursor && cursor.folderPath === options.folder && due) forgetGraphFolders(client);
	let folder: GraphFolder =
		cursor && cursor.folderPath === options.folder && !due
			? { id: cursor.folderId, path: options.folder, name: options.folder.split('/').pop() ?? '' }
			: await lookUp();
	// Mail that came to a new folder under the path since the path last led to the old one is new.
	let recoverSince = options.recoverSince;
	if (cursor && cursor.folderId !== folder.id) {
		reset = 'folderRecreated';
		const last = Date.parse(cursor.checkedAt ?? '');
		if (recoverSince && last < recoverSince.getTime()) recoverSince = new Date(last);
		cursor = undefined;
	}
	const since = (date?: Date) =>
		date ? new Date(date.getTime() - RECOVERY_SKEW_MS).toISOString() : undefined;
	// A page as large as the poll may take (ids and headers only, no body): one request for a poll's
	// worth of new mail. Graph may send smaller pages; its nextLink says so.
	const pageSize = Math.max(1, Math.min(options.maxMessages, DELTA_PAGE_LIMIT));
	const prefer = [`odata.maxpagesize=${pageSize}`];
	const fresh = (): GraphCursor => ({
		folderId: folder.id,
		folderPath: options.folder,
		link: `/mailFolders/${encodeURIComponent(folder.id)}/messages/delta?changeType=created&$select=${DELTA_SELECT}`,
		checkedAt,
		// A first round with "start from now", or a recovery: only what arrived since counts.
		collectFrom: reset
			? (since(recoverSince) ?? thisMoment())
			: options.startFrom === 'now'
				? (options.startedAt?.toISOString() ?? thisMoment())
				: undefined,
	});
	const baseline = !cursor && !reset;
	let state: GraphCursor = cursor ? { ...cursor, checkedAt } : fresh();

	const found: GraphMessage[] = [];
	const known = new Set<string>();
	const candidate = (m: GraphMessage) => {
		if (m['@removed'] || known.has(m.id)) return;
		known.add(m.id);
		if (state.collectFrom && !(receivedAt(m) >= Date.parse(state.collectFrom))) return;
		if (options.emitted?.(m.id, m.internetMessageId ?? null)) return;
		if (
			!graphMatches(messageFromGraph(m, client.mailbox, folder.path), {
				...options.filters,
				unreadOnly: true,
			})
		)
			return;
		found.push(m);
	};
	// The backlog first: its messages were found earlier; read them again (they may be read or gone).
	const backlog = state.backlog ?? [];
	const again = await client.getMany<GraphMessage>(
		backlog.slice(0, options.maxMessages).map((id) => ({
			path: `/messages/${encodeURIComponent(id)}`,
			query: { $select: DELTA_SELECT },
		})),
	);
	for (const m of again) {
		if (m instanceof MailServiceError) {
			if (isGone(m)) continue;
			throw m;
		}
		candidate(m);
	}
	let rest = backlog.slice(options.maxMessages);

	const follow = async () => {
		let link = state.link;
		for await (const page of client.pages<GraphMessage>({ path: link, prefer })) {
			for (const m of page.value) candidate(m);
			link = page.deltaLink ?? page.nextLink ?? link;
			if (page.deltaLink) {
				state = { ...state, link, collectFrom: undefined };
				return;
			}
			state = { ...state, link };
			const full = found.length + rest.length >= options.maxMessages;
			if (full || (options.deadline && Date.now() > options.deadline)) return;
		}
	};
	if (!rest.length && found.length < options.maxMessages) {
		try {
			await follow();
		} catch (error) {
			const dead = error instanceof MailServiceError && error.kind === 'syncState';
			const folderGone = error instanceof MailServiceError && error.kind === 'notFound' && !!cursor;
			if (!dead && !folderGone) throw error;
			if (folderGone) {
				// A folder deleted and created again under the same path has a new id.
				forgetGraphFolders(client);
				const again = await lookUp();
				if (again.id === folder.id) throw error;
				folder = again;
			}
			reset = dead ? 'deltaReset' : 'folderRecreated';
			state = fresh();
			await follow();
		}
	}
	found.sort((a, b) => receivedAt(a) - receivedAt(b));

	// Download what is emitted, within the limits; the others wait in the backlog.
	const messages: FetchedMessage[] = [];
	const skipped: GraphPollOutcome['skipped'] = [];
	const maxSize = options.filters.maxSizeBytes;
	let bytes = 0;
	let taken = 0;
	const full = () =>
		taken >= options.maxMessages ||
		(taken > 0 && !!options.maxBytes && bytes >= options.maxBytes) ||
		(taken > 0 && !!options.deadline && Date.now() > options.deadline);
	const reader = new BodyReader(client, folder.id, options.filters, maxSize !== undefined);
	const origin = graphFolderMark(folder.id);
	while (taken < found.length && !full()) {
		const average = messages.length ? bytes / messages.length : 0;
		const room = options.maxBytes ? (options.maxBytes - bytes) / Math.max(average, 1) : Infinity;
		const end = taken + Math.min(reader.chunkSize(average, room), options.maxMessages - taken);
		const chunk = found.slice(taken, end);
		const read = await reader.read(chunk, found.slice(end, taken + options.maxMessages));
		for (const [i, whole] of read.entries()) {
			if (i > 0 && full()) break;
			taken++;
			// Deleted between the delta page and now: gone, not lost.
			if (whole instanceof MailServiceError) {
				if (isGone(whole)) continue;
				throw whole;
			}
			if (whole.isRead) continue;
			const size = sizeOf(whole);
			if (maxSize !== undefined && size !== undefined && size > maxSize) {
				skipped.push({ id: chunk[i].id, reason: `${size} bytes, over the size limit` });
				continue;
			}
			try {
				const fetched = await fetchGraphContent(
					client,
					whole,
					client.mailbox,
					folder.path,
					options.content,
					options,
				);
				// No binary output: the attachments' bytes are not kept for the rest of the poll.
				if (options.attachmentContent === false) fetched.attachments = [];
				bytes += fetched.raw?.length ?? fetched.message.size ?? 0;
				bytes += (fetched.message.text?.length ?? 0) + (fetched.message.html?.length ?? 0);
				messages.push({ ...fetched, origin });
			} catch (error) {
				if (!isGone(error)) throw error;
			}
		}
	}
	rest = [...found.slice(taken).map((m) => m.id), ...rest];
	state = { ...state, backlog: rest.length ? rest : undefined };
	if (!state.backlog) delete state.backlog;
	if (!state.collectFrom) delete state.collectFrom;
	return {
		messages,
		cursor: state,
		baseline: baseline && !messages.length ? true : undefined,
		reset,
		skipped,
		more: rest.length > 0 || !/deltatoken/i.test(state.link) || !!state.collectFrom,
	};
}

/**
 * What the trigger does later to messages it emitted over Microsoft Graph, by their ids: the "after
 * emitting" actions, the at-least-once option's look at which are still unread, and a repeated
 * emit's download. Graph's ids survive moves. A message copied (not moved) into a folder created
 * again under the watched path has a new id: it is found by its Message-ID (`copiesHere`), and only
 * for a message emitted from the folder the path led to before (`EmittedBefore.origins`), so that
 * other mail with the same Message-ID in the folder it was emitted from is never touched.
 */
import { MailServiceError } from '../auth/errors';
import type { AfterEmit, FetchedMessage, MessageContent } from '../types';
import { receivedAt } from './bodies';
import type { GraphClient } from './client';
import {
	forgetGraphFolders,
	graphFolderListAge,
	graphFolderMark,
	resolveGraphFolder,
	type GraphFolder,
} from './folders';
import {
	fetchGraphContent,
	isGone,
	MESSAGE_SELECT,
	moveGraphMessage,
	SIZE_EXPAND,
	type GraphMessage,
	type SizedMessage,
} from './messages';

/** What the trigger remembers of the messages it emitted, by id. */
export interface EmittedBefore {
	/** The Message-ID each was emitted with. */
	messageIds?: ReadonlyMap<string, string | null>;
	/** The folder each was read from (FetchedMessage.origin: `graphFolderMark` of its id). */
	origins?: ReadonlyMap<string, string>;
}

/**
 * A Message-ID looked up: in angle brackets, no space or control character, short enough for a URL
 * (a hostile header must not make every poll's request too long to send).
 */
const LOOKUP_MESSAGE_ID = /^<[!-~\u00a0-\uffff]{1,250}>$/;

/**
 * A folder list read this recently is taken as it is when emitted mail is missing from the folder.
 * A polling trigger reads it at each poll; the instant trigger keeps its client for as long as it
 * runs.
 */
const FOLDER_LIST_FRESH_MS = 30_000;

/**
 * The folder the watched path leads to now. `watched` is where this client last found the path;
 * when messages emitted from it are missing from it (gone, or moved), the folder may have been
 * deleted and created again since, so a folder list older than `FOLDER_LIST_FRESH_MS` is read
 * again. A path that leads nowhere now leaves `watched` as it was.
 */
async function watchedNow(
	client: GraphClient,
	path: string,
	watched: GraphFolder,
	missing: string[],
	emitted: EmittedBefore | undefined,
): Promise<GraphFolder> {
	const here = graphFolderMark(watched.id);
	const fromHere = missing.some((id) => emitted?.origins?.get(id) === here);
	if (!fromHere || graphFolderListAge(client) < FOLDER_LIST_FRESH_MS) return watched;
	forgetGraphFolders(client);
	try {
		return await resolveGraphFolder(client, path);
	} catch (error) {
		if (error instanceof MailServiceError && error.kind === 'notFound') return watched;
		throw error;
	}
}

/**
 * The copies, in the folder the watched path leads to now (`watchedNow`), of emitted messages
 * missing from `watched` that were emitted from an earlier folder under the path, by the id each
 * was emitted under (several, if the message was copied more than once). One request per twenty
 * messages, and none unless the folder was created again since the emit. A lookup Graph refuses
 * leaves those messages as they are, rather than failing every poll.
 */
async function copiesHere(
	client: GraphClient,
	path: string,
	cached: GraphFolder,
	missing: string[],
	emitted: EmittedBefore | undefined,
): Promise<Map<string, GraphMessage[]>> {
	const watched = await watchedNow(client, path, cached, missing, emitted);
	const here = graphFolderMark(watched.id);
	const wanted: Array<[string, string]> = [];
	for (const id of missing) {
		const origin = emitted?.origins?.get(id);
		const messageId = emitted?.messageIds?.get(id);
		if (origin && origin !== here && messageId && LOOKUP_MESSAGE_ID.test(messageId))
			wanted.push([id, messageId]);
	}
	const lists = await client.getMany<{ value?: GraphMessage[] }>(
		wanted.map(([, messageId]) => ({
			path: `/mailFolders/${encodeURIComponent(watched.id)}/messages`,
			query: {
				$filter: `internetMessageId eq '${messageId.replace(/'/g, "''")}'`,
				$select: 'id,isRead,internetMessageId,parentFolderId',
				$top: '10',
			},
		})),
	);
	const found = new Map<string, GraphMessage[]>();
	for (const [i, [id, messageId]] of wanted.entries()) {
		const list = lists[i];
		if (list instanceof MailServiceError) {
			if (list.kind === 'input' || isGone(list)) continue;
			throw list;
		}
		const copies = (list.value ?? []).filter(
			(m) => m.internetMessageId === messageId && m.parentFolderId === watched.id,
		);
		if (copies.length) found.set(id, copies);
	}
	return found;
}

/**
 * Applies an "after emitting" action. Safe to repeat: a message gone, or no longer in the watched
 * folder (moved already, or by someone else), is left alone; one emitted from an earlier folder
 * under the watched path is reached in the folder there is now, under the id of its copy.
 */
export async function applyGraphAction(
	client: GraphClient,
	watchedFolder: string,
	action: AfterEmit,
	emittedIds: string[],
	emitted?: EmittedBefore,
): Promise<void> {
	if (action.action === 'none' || !emittedIds.length) return;
	const watched = await resolveGraphFolder(client, watchedFolder);
	const destination =
		action.action === 'markRead' || action.action === 'flag'
			? undefined
			: await resolveGraphFolder(client, action.action === 'move' ? action.folder : 'deleteditems');
	if (destination && destination.id === watched.id) {
		throw new MailServiceError(
			`"After emitting" would move messages into the watched folder ${watched.path}`,
			'Choose another folder to move emitted messages to.',
			'input',
		);
	}
	const copiesOf = async (missing: string[]) =>
		[...(await copiesHere(client, watchedFolder, watched, missing, emitted)).values()].flat();
	if (!destination) {
		// Read or flagged: twenty messages per request (Graph's $batch); each answer is the message.
		const body = action.action === 'flag' ? { flag: { flagStatus: 'flagged' } } : { isRead: true };
		const patch = async (ids: string[]) => {
			const answers = await client.patchMany(
				ids.map((id) => ({ path: `/messages/${encodeURIComponent(id)}`, body })),
			);
			const failed = answers.find((a) => a instanceof MailServiceError && !isGone(a));
			if (failed) throw failed;
			return ids.filter(
				(_, i) => (answers[i] as GraphMessage | undefined)?.parentFolderId !== watched.id,
			);
		};
		const patched = new Set(emittedIds);
		const copies = await copiesOf(await patch(emittedIds));
		await patch(copies.filter((m) => !patched.has(m.id)).map((m) => m.id));
		return;
	}
	// A move only takes messages still in the watched folder (read twenty at a time).
	const here = await stillInFolder(client, watched.id, emittedIds, 'id,parentFolderId');
	const copies = await copiesOf(emittedIds.filter((id) => !here.has(id)));
	for (const id of [...here.keys(), ...copies.map((m) => m.id)]) {
		try {
			await moveGraphMessage(client, id, destination.id, 'move');
		} catch (error) {
			if (!isGone(error)) throw error;
		}
	}
}

/** These messages as they are now, read in batches, keeping those still in the folder (gone ones left out). */
async function stillInFolder<T extends GraphMessage>(
	client: GraphClient,
	folderId: string,
	ids: string[],
	select: string,
	expand?: string,
): Promise<Map<string, T>> {
	const query: Record<string, string> = { $select: select };
	if (expand) query.$expand = expand;
	const read = await client.getMany<T>(
		ids.map((id) => ({ path: `/messages/${encodeURIComponent(id)}`, query })),
	);
	const found = new Map<string, T>();
	for (const [i, m] of read.entries()) {
		if (m instanceof MailServiceError) {
			if (isGone(m)) continue;
			throw m;
		}
		if (m.parentFolderId === folderId) found.set(ids[i], m);
	}
	return found;
}

/**
 * Which of these messages are still in the watched folder and unread, each with its id now: the
 * same (Graph's immutable ids survive moves), or, for one emitted from an earlier folder under the
 * watched path, the id of its copy here.
 */
export async function graphUnreadAmong(
	client: GraphClient,
	watchedFolder: string,
	ids: string[],
	emitted?: EmittedBefore,
): Promise<Map<string, string>> {
	const watched = await resolveGraphFolder(client, watchedFolder);
	const present = await stillInFolder(client, watched.id, ids, 'id,isRead,parentFolderId');
	const unread = new Map([...present].filter(([, m]) => !m.isRead).map(([id]) => [id, id]));
	const missing = ids.filter((id) => !present.has(id));
	for (const [id, copies] of await copiesHere(client, watchedFolder, watched, missing, emitted)) {
		const copy = copies.find((m) => !m.isRead);
		if (copy) unread.set(id, copy.id);
	}
	return unread;
}

/** Downloads these messages again, oldest first. */
export async function fetchGraphByIds(
	client: GraphClient,
	options: { folder: string; content: MessageContent; full?: boolean; keepRaw?: boolean },
	ids: string[],
): Promise<FetchedMessage[]> {
	const folder = await resolveGraphFolder(client, options.folder);
	const origin = graphFolderMark(folder.id);
	const result: FetchedMessage[] = [];
	const present = await stillInFolder<SizedMessage>(
		client,
		folder.id,
		ids,
		MESSAGE_SELECT,
		SIZE_EXPAND,
	);
	for (const m of present.values()) {
		try {
			const fetched = await fetchGraphContent(
				client,
				m,
				client.mailbox,
				folder.path,
				options.content,
				options,
			);
			result.push({ ...fetched, origin });
		} catch (error) {
			if (!isGone(error)) throw error;
		}
	}
	return result.sort(
		(a, b) =>
			receivedAt({ receivedDateTime: a.message.receivedAt ?? undefined }) -
			receivedAt({ receivedDateTime: b.message.receivedAt ?? undefined }),
	);
}

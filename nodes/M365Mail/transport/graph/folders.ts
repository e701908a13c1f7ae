/**
 * Mail folders over Microsoft Graph: listed once per client with full paths, found by path,
 * created, renamed and deleted.
 */
import { createHash } from 'node:crypto';

import { MailServiceError } from '../auth/errors';
import { loadOnce } from '../cache';
import {
	alreadyInTrash,
	checkFolderName,
	findFolder,
	isInside,
	nameTaken,
	nameTakenIn,
	refuseMoveInto,
	refuseWellKnown,
	trashNameTaken,
} from '../folders';
import { inboxFirst, type MailFolder } from '../types';
import type { GraphClient } from './client';

export interface GraphFolder extends MailFolder {
	id: string;
}

const WELL_KNOWN = ['inbox', 'sentitems', 'drafts', 'deleteditems', 'junkemail', 'archive'];

const folderCache = new WeakMap<GraphClient, Promise<GraphFolder[]>>();

/** Every folder of the mailbox with its full path ("Inbox/Tech-Support"), well-known ones marked. */
export async function listGraphFolders(client: GraphClient): Promise<GraphFolder[]> {
	const wellKnown = new Map<string, string>();
	for (const name of WELL_KNOWN) {
		try {
			const folder = await client.request<{ id: string }>({
				path: `/mailFolders/${name}`,
				query: { $select: 'id' },
			});
			wellKnown.set(folder.id, name);
		} catch (error) {
			if (!(error instanceof MailServiceError && error.kind === 'notFound')) throw error;
		}
	}
	const result: GraphFolder[] = [];
	const walk = async (path: string, parentPath: string) => {
		for await (const page of client.pages<{
			id: string;
			displayName: string;
			childFolderCount?: number;
		}>({
			path,
			query: { $select: 'id,displayName,childFolderCount', $top: '100' },
		})) {
			for (const f of page.value) {
				const full = parentPath ? `${parentPath}/${f.displayName}` : f.displayName;
				result.push({
					id: f.id,
					path: full,
					name: f.displayName,
					wellKnownName: wellKnown.get(f.id),
				});
				if (f.childFolderCount) await walk(`/mailFolders/${f.id}/childFolders`, full);
			}
		}
	};
	await walk('/mailFolders', '');
	return result.sort(inboxFirst);
}

const folderListAt = new WeakMap<GraphClient, number>();

function cachedFolders(client: GraphClient): Promise<GraphFolder[]> {
	return loadOnce(folderCache, client, async (c) => {
		folderListAt.set(c, Date.now());
		return await listGraphFolders(c);
	});
}

/**
 * A short mark of a folder's id, kept with each emitted message (FetchedMessage.origin): Graph's
 * folder ids run to 120 characters, and the trigger remembers up to a thousand messages in n8n's
 * static data.
 */
export function graphFolderMark(id: string): string {
	return createHash('sha256').update(id).digest('base64url').slice(0, 10);
}

/** How long ago this client read the folder list it keeps (Infinity: none kept). */
export function graphFolderListAge(client: GraphClient): number {
	const at = folderCache.has(client) ? folderListAt.get(client) : undefined;
	return at === undefined ? Infinity : Date.now() - at;
}

/** A folder by path, well-known name, or Graph id. */
export async function resolveGraphFolder(
	client: GraphClient,
	wanted: string,
): Promise<GraphFolder> {
	return findFolder(await cachedFolders(client), wanted, client.mailbox, (f) => f.id);
}

/** The path of a folder by its id, from the folder list this client already read. */
export async function graphFolderPath(
	client: GraphClient,
	folderId: string | undefined,
): Promise<string> {
	return (await cachedFolders(client)).find((f) => f.id === folderId)?.path ?? '';
}

export function forgetGraphFolders(client: GraphClient): void {
	folderCache.delete(client);
}

export async function createGraphFolder(
	client: GraphClient,
	path: string,
): Promise<{ folder: GraphFolder; created: boolean }> {
	const parts = path
		.split('/')
		.map((p) => p.trim())
		.filter(Boolean);
	let parentPath = '';
	let parent: GraphFolder | undefined;
	let created = false;
	for (const part of parts) {
		const full = parentPath ? `${parentPath}/${part}` : part;
		const existing = (await cachedFolders(client)).find(
			(f) => f.path.toLowerCase() === full.toLowerCase(),
		);
		if (existing) {
			parent = existing;
		} else {
			const made = await client.request<{ id: string; displayName: string }>({
				method: 'POST',
				path: parent
					? `/mailFolders/${encodeURIComponent(parent.id)}/childFolders`
					: '/mailFolders',
				body: { displayName: part },
				idempotent: false,
			});
			forgetGraphFolders(client);
			parent = { id: made.id, path: full, name: made.displayName };
			created = true;
		}
		parentPath = parent.path;
	}
	if (!parent)
		throw new MailServiceError(
			'The folder path is empty',
			'Enter a path such as Inbox/Customers.',
			'input',
		);
	return { folder: parent, created };
}

/** The folder with Graph's counts of its messages and unread messages. */
export async function graphFolderCounts(
	client: GraphClient,
	wanted: string,
): Promise<{ folder: GraphFolder; total: number; unread: number }> {
	const folder = await resolveGraphFolder(client, wanted);
	const counts = await client.request<{ totalItemCount?: number; unreadItemCount?: number }>({
		path: `/mailFolders/${encodeURIComponent(folder.id)}`,
		query: { $select: 'totalItemCount,unreadItemCount' },
	});
	return { folder, total: counts.totalItemCount ?? 0, unread: counts.unreadItemCount ?? 0 };
}

/** The folder as users name it, and the list it is in, listed afresh (a rename must miss no name). */
async function freshFolder(client: GraphClient, wanted: string) {
	forgetGraphFolders(client);
	const folders = await cachedFolders(client);
	return { folders, folder: findFolder(folders, wanted, client.mailbox, (f) => f.id) };
}

const parentOf = (path: string) => path.slice(0, Math.max(0, path.lastIndexOf('/')));

/** PATCH of the folder's displayName: it keeps its id, place, subfolders and mail. */
export async function renameGraphFolder(
	client: GraphClient,
	wanted: string,
	name: string,
): Promise<{ folder: GraphFolder; previousPath: string }> {
	const { folders, folder } = await freshFolder(client, wanted);
	refuseWellKnown(folder, folders, 'rename');
	const leaf = checkFolderName(name);
	const parent = parentOf(folder.path);
	const path = parent ? `${parent}/${leaf}` : leaf;
	const clash = folders.find((f) => f !== folder && f.path.toLowerCase() === path.toLowerCase());
	if (clash) throw nameTaken(leaf, folder.path);
	const renamed = await client.request<{ id: string; displayName: string }>({
		method: 'PATCH',
		path: `/mailFolders/${encodeURIComponent(folder.id)}`,
		body: { displayName: leaf },
		idempotent: true,
	});
	forgetGraphFolders(client);
	return {
		folder: {
			id: renamed.id,
			path: parent ? `${parent}/${renamed.displayName}` : renamed.displayName,
			name: renamed.displayName,
		},
		previousPath: folder.path,
	};
}

/**
 * Graph's folder move under `into` (none: the top of the mailbox, `msgfolderroot`): the folder keeps
 * its id, subfolders and mail. Refused with `taken` when a folder of its name is there already.
 */
async function moveUnder(
	client: GraphClient,
	folder: GraphFolder,
	folders: GraphFolder[],
	into: { id: string; path: string } | undefined,
	taken: () => MailServiceError,
): Promise<GraphFolder> {
	const path = into ? `${into.path}/${folder.name}` : folder.name;
	if (path === folder.path) return folder;
	if (folders.some((f) => f.path.toLowerCase() === path.toLowerCase())) throw taken();
	const moved = await client.request<{ id: string; displayName: string }>({
		method: 'POST',
		path: `/mailFolders/${encodeURIComponent(folder.id)}/move`,
		body: { destinationId: into?.id ?? 'msgfolderroot' },
		idempotent: false,
	});
	forgetGraphFolders(client);
	const name = moved.displayName ?? folder.name;
	return { id: moved.id, path: into ? `${into.path}/${name}` : name, name };
}

/** Moves the folder into another, or with no destination to the top of the mailbox. */
export async function moveGraphFolder(
	client: GraphClient,
	wanted: string,
	destination: string | undefined,
): Promise<{ folder: GraphFolder; previousPath: string }> {
	const { folders, folder } = await freshFolder(client, wanted);
	refuseWellKnown(folder, folders, 'move');
	const into =
		destination === undefined
			? undefined
			: findFolder(folders, destination, client.mailbox, (f) => f.id);
	if (into) refuseMoveInto(folder, into);
	const taken = () => nameTakenIn(folder.name, into?.path);
	return {
		folder: await moveUnder(client, folder, folders, into, taken),
		previousPath: folder.path,
	};
}

/**
 * To Deleted Items with Graph's folder move (documented to say where the folder goes), or for good
 * with permanentDelete (Microsoft offers it in the global cloud only).
 */
export async function deleteGraphFolder(
	client: GraphClient,
	wanted: string,
	permanent: boolean,
): Promise<{ folder: GraphFolder; movedTo?: string }> {
	const { folders, folder } = await freshFolder(client, wanted);
	refuseWellKnown(folder, folders, 'delete');
	if (permanent) {
		const path = `/mailFolders/${encodeURIComponent(folder.id)}/permanentDelete`;
		await client.request({ method: 'POST', path, idempotent: false });
		forgetGraphFolders(client);
		return { folder };
	}
	const trash = folders.find((f) => f.wellKnownName === 'deleteditems') ?? {
		id: 'deleteditems',
		path: 'Deleted Items',
	};
	if (isInside(folder.path, trash.path)) throw alreadyInTrash(folder.path);
	const taken = () => trashNameTaken(folder.name);
	const moved = await moveUnder(client, folder, folders, trash, taken);
	return { folder, movedTo: moved.path };
}

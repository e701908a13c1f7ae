/** Folder listing over IMAP, with Exchange-style paths ("Inbox/Tech-Support"). */
import type { ImapFlow } from 'imapflow';

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

export interface ImapFolder extends MailFolder {
	/** The path as the server names it (its own delimiter). */
	serverPath: string;
	delimiter: string;
	subscribed: boolean;
}

const SPECIAL_USE: Record<string, string> = {
	'\\Inbox': 'inbox',
	'\\Sent': 'sentitems',
	'\\Drafts': 'drafts',
	'\\Trash': 'deleteditems',
	'\\Junk': 'junkemail',
	'\\Archive': 'archive',
};

/** "INBOX/Tech-Support" (server) -> "Inbox/Tech-Support" (as Outlook shows it), "/" between levels. */
function displayPath(path: string, delimiter: string): string {
	const parts = delimiter ? path.split(delimiter) : [path];
	if (parts[0].toUpperCase() === 'INBOX') parts[0] = 'Inbox';
	return parts.join('/');
}

/** What the server lists, \Noselect levels too; a dead connection is an error, never "none". */
async function listEntries(client: ImapFlow) {
	const entries = await client.list();
	if (!Array.isArray(entries)) {
		// imapflow answers false-ish on a dead connection: never read that as "no folders".
		throw new MailServiceError(
			'The IMAP server did not return the folder list',
			'Try again; check the connection.',
			'network',
		);
	}
	return entries;
}

/** The selectable folders among what the server listed, Inbox first. */
function selectable(entries: Awaited<ReturnType<typeof listEntries>>): ImapFolder[] {
	const folders = entries
		.filter((e) => !e.flags?.has('\\Noselect') && !e.flags?.has('\\NonExistent'))
		.map<ImapFolder>((e) => ({
			path: displayPath(e.path, e.delimiter),
			serverPath: e.path,
			name: e.name,
			wellKnownName:
				e.path.toUpperCase() === 'INBOX'
					? 'inbox'
					: e.specialUse
						? SPECIAL_USE[e.specialUse]
						: undefined,
			delimiter: e.delimiter,
			subscribed: e.subscribed === true,
		}));
	return folders.sort(inboxFirst);
}

/** Lists every selectable folder of the mailbox, nested ones included, Inbox first. */
export async function listFolders(client: ImapFlow): Promise<ImapFolder[]> {
	return selectable(await listEntries(client));
}

/** A folder as the Mailbox interface gives it (without the server's own path). */
export function publicFolder(f: ImapFolder): MailFolder {
	const { path, name, wellKnownName, delimiter, subscribed } = f;
	return { path, name, wellKnownName, delimiter, subscribed };
}

const folderCache = new WeakMap<ImapFlow, Promise<ImapFolder[]>>();
/** Sessions whose cached list was read by an earlier poll (kept.ts): it may be out of date. */
const carried = new WeakSet<ImapFlow>();

/** The folder list of this session, listed once. */
function cachedFolders(client: ImapFlow): Promise<ImapFolder[]> {
	return loadOnce(folderCache, client, listFolders);
}

/** Forgets the cached list after a folder was created (or when it may be out of date). */
export function forgetFolders(client: ImapFlow): void {
	folderCache.delete(client);
	carried.delete(client);
}

/**
 * A kept session is taken back by the next poll: its folder list was read by an earlier poll, and
 * folders may have been created, renamed or deleted since. Only the poll's own folder is looked up
 * in it (withFolder, which lists again when the folder is not there or does not open); any other
 * lookup lists again first.
 */
export function carryFolders(client: ImapFlow): void {
	if (folderCache.has(client)) carried.add(client);
}

/** Whether the session's folder list was read by an earlier poll. */
export function foldersCarried(client: ImapFlow): boolean {
	return carried.has(client);
}

/**
 * A folder by path, well-known name, or the server's own path. A list carried from an earlier poll
 * is used only where the caller says it checks the folder by opening it (`carriedList`), and is
 * listed again when the folder is not in it.
 */
export async function resolveFolder(
	client: ImapFlow,
	mailbox: string,
	wanted: string,
	options: { carriedList?: boolean } = {},
): Promise<ImapFolder> {
	if (carried.has(client) && !options.carriedList) forgetFolders(client);
	const find = async () =>
		findFolder(await cachedFolders(client), wanted, mailbox, (f) => f.serverPath);
	if (!carried.has(client)) return await find();
	try {
		return await find();
	} catch {
		forgetFolders(client);
		return await find();
	}
}

/** Creates each missing level of `path` (Exchange does not create parents); false when it existed. */
export async function createFolderPath(
	client: ImapFlow,
	path: string,
): Promise<{ folder: MailFolder; created: boolean }> {
	const parts = path
		.split('/')
		.map((p) => p.trim())
		.filter(Boolean);
	if (!parts.length) {
		throw new MailServiceError(
			'The folder path is empty',
			'Enter a path such as Inbox/Customers.',
			'input',
		);
	}
	if (parts[0].toLowerCase() === 'inbox') parts[0] = 'INBOX';
	let created = false;
	for (let depth = 1; depth <= parts.length; depth++) {
		const existing = await listFolders(client);
		const wanted = parts.slice(0, depth).join('/').toLowerCase();
		if (existing.some((f) => f.path.toLowerCase() === wanted)) continue;
		const result = await client.mailboxCreate(parts.slice(0, depth));
		if (!result)
			throw new MailServiceError(
				`The folder "${parts.slice(0, depth).join('/')}" could not be created`,
				'Check the name and your rights on the parent folder.',
				'unknown',
			);
		created = true;
	}
	forgetFolders(client);
	const display = parts.join('/').replace(/^INBOX/, 'Inbox');
	const folder = (await listFolders(client)).find(
		(f) => f.path.toLowerCase() === display.toLowerCase(),
	);
	const name = folder?.name ?? parts[parts.length - 1];
	return { folder: folder ? publicFolder(folder) : { path: display, name }, created };
}

/** The folder with its counts from one STATUS (MESSAGES, UNSEEN), without opening it. */
export async function imapFolderCounts(
	client: ImapFlow,
	mailbox: string,
	wanted: string,
): Promise<{ folder: MailFolder; total: number; unread: number }> {
	const folder = await resolveFolder(client, mailbox, wanted);
	const status = await client.status(folder.serverPath, { messages: true, unseen: true });
	if (!status || typeof status.messages !== 'number')
		throw new MailServiceError(
			`The IMAP server did not say how many messages "${folder.path}" holds`,
			'Try again; check the connection.',
			'network',
		);
	return { folder: publicFolder(folder), total: status.messages, unread: status.unseen ?? 0 };
}

/**
 * Runs the commands that change folders: a server's refusal becomes an error with its own text
 * (tokens redacted there) and the fix; the cached folder list is forgotten either way.
 */
async function changing<T>(
	client: ImapFlow,
	what: string,
	fix: string,
	work: () => Promise<T>,
): Promise<T> {
	try {
		return await work();
	} catch (error) {
		if (error instanceof MailServiceError) throw error;
		const e = error as { responseText?: string; message?: string };
		const reason = e.responseText || e.message || 'no reason given';
		throw new MailServiceError(`The IMAP server refused to ${what}: ${reason}`, fix, 'unknown');
	} finally {
		forgetFolders(client);
	}
}

/**
 * The folder as users name it, found in one fresh LIST, with every name the server lists (\Noselect
 * levels too: a rename must not collide, a delete must not skip one).
 */
async function freshFolder(client: ImapFlow, mailbox: string, wanted: string) {
	forgetFolders(client);
	const entries = await listEntries(client);
	const folders = selectable(entries);
	const folder = findFolder(folders, wanted, mailbox, (f) => f.serverPath);
	return { folder, folders, names: entries.map((e) => e.path) };
}

/**
 * RENAME of the folder to `target` (a new name beside it, or a place under another folder; its
 * subfolders and mail go with it), refused with `taken` when another folder has that name; the
 * folder as listed afterwards.
 */
async function renameTo(
	client: ImapFlow,
	folder: ImapFolder,
	names: string[],
	target: string,
	taken: () => MailServiceError,
	change: { what: string; fix: string },
): Promise<MailFolder> {
	const [wanted, own] = [target.toLowerCase(), folder.serverPath.toLowerCase()];
	if (names.some((n) => n.toLowerCase() === wanted && n.toLowerCase() !== own)) throw taken();
	await changing(client, change.what, change.fix, () =>
		client.mailboxRename(folder.serverPath, target),
	);
	const now = (await cachedFolders(client)).find((f) => f.serverPath === target);
	const path = displayPath(target, folder.delimiter);
	const name = folder.delimiter ? target.slice(target.lastIndexOf(folder.delimiter) + 1) : target;
	return publicFolder(now ?? { ...folder, serverPath: target, path, name });
}

/** Renames the folder in place; the folder as listed now. */
export async function renameImapFolder(
	client: ImapFlow,
	mailbox: string,
	wanted: string,
	name: string,
): Promise<{ folder: MailFolder; previousPath: string }> {
	const { folder, folders, names } = await freshFolder(client, mailbox, wanted);
	refuseWellKnown(folder, folders, 'rename');
	const leaf = checkFolderName(name, folder.delimiter);
	const cut = folder.delimiter ? folder.serverPath.lastIndexOf(folder.delimiter) : -1;
	const target = cut >= 0 ? `${folder.serverPath.slice(0, cut + 1)}${leaf}` : leaf;
	const previousPath = folder.path;
	if (target === folder.serverPath) return { folder: publicFolder(folder), previousPath };
	const what = `rename "${folder.path}"`;
	const fix = 'Check your rights on the folder and its parent.';
	const taken = () => nameTaken(leaf, folder.path);
	return {
		folder: await renameTo(client, folder, names, target, taken, { what, fix }),
		previousPath,
	};
}

/**
 * Moves the folder into another (RENAME under it), or with no destination to the top of the
 * mailbox (RENAME to its name alone).
 */
export async function moveImapFolder(
	client: ImapFlow,
	mailbox: string,
	wanted: string,
	destination: string | undefined,
): Promise<{ folder: MailFolder; previousPath: string }> {
	const { folder, folders, names } = await freshFolder(client, mailbox, wanted);
	refuseWellKnown(folder, folders, 'move');
	const into =
		destination === undefined
			? undefined
			: findFolder(folders, destination, mailbox, (f) => f.serverPath);
	if (into) refuseMoveInto(folder, into);
	const target = into ? `${into.serverPath}${into.delimiter}${folder.name}` : folder.name;
	const previousPath = folder.path;
	if (target === folder.serverPath) return { folder: publicFolder(folder), previousPath };
	const what = `move "${folder.path}"`;
	const fix = 'Check your rights on the folder and on the destination.';
	const taken = () => nameTakenIn(folder.name, into?.path);
	return {
		folder: await renameTo(client, folder, names, target, taken, { what, fix }),
		previousPath,
	};
}

/**
 * To Deleted Items (RENAME under the \Trash folder, its subfolders and mail with it), or for good
 * (DELETE of each subfolder, deepest first, then the folder). Where the folder went, if anywhere.
 */
export async function deleteImapFolder(
	client: ImapFlow,
	mailbox: string,
	wanted: string,
	permanent: boolean,
): Promise<{ folder: MailFolder; movedTo?: string }> {
	const { folder, folders, names } = await freshFolder(client, mailbox, wanted);
	refuseWellKnown(folder, folders, 'delete');
	const what = `delete "${folder.path}"`;
	const fix = 'Check your rights on the folder, its subfolders and Deleted Items.';
	if (permanent) {
		const below = (n: string) => n.startsWith(`${folder.serverPath}${folder.delimiter}`);
		const doomed = names.filter(below).sort((a, b) => b.length - a.length);
		await changing(client, what, fix, async () => {
			for (const name of [...doomed, folder.serverPath]) await client.mailboxDelete(name);
		});
		return { folder: publicFolder(folder) };
	}
	const trash = folders.find((f) => f.wellKnownName === 'deleteditems');
	if (!trash)
		throw new MailServiceError(
			`${mailbox} has no Deleted Items folder to move "${folder.path}" to`,
			'Turn on Delete Permanently to remove the folder and its mail for good.',
			'input',
		);
	if (isInside(folder.path, trash.path)) throw alreadyInTrash(folder.path);
	const target = `${trash.serverPath}${trash.delimiter}${folder.name}`;
	const taken = () => trashNameTaken(folder.name);
	const moved = await renameTo(client, folder, names, target, taken, { what, fix });
	return { folder: publicFolder(folder), movedTo: moved.path };
}

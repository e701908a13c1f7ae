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

/** Lists every selectable folder of the mailbox, nested ones included, Inbox first. */
export async function listFolders(client: ImapFlow): Promise<ImapFolder[]> {
	const entries = await client.list();
	if (!Array.isArray(entries)) {
		// imapflow answers false-ish on a dead connection: never read that as "no folders".
		throw new MailServiceError(
			'The IMAP server did not return the folder list',
			'Try again; check the connection.',
			'network',
		);
	}
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

/** A folder as the Mailbox interface gives it (without the server's own path). */
export function publicFolder(f: ImapFolder): MailFolder {
	const { path, name, wellKnownName, delimiter, subscribed } = f;
	return { path, name, wellKnownName, delimiter, subscribed };
}

const folderCache = new WeakMap<ImapFlow, Promise<ImapFolder[]>>();

/** The folder list of this session, listed once. */
function cachedFolders(client: ImapFlow): Promise<ImapFolder[]> {
	return loadOnce(folderCache, client, listFolders);
}

/** Forgets the cached list after a folder was created. */
export function forgetFolders(client: ImapFlow): void {
	folderCache.delete(client);
}

/** A folder by path, well-known name, or the server's own path. */
export async function resolveFolder(
	client: ImapFlow,
	mailbox: string,
	wanted: string,
): Promise<ImapFolder> {
	return findFolder(await cachedFolders(client), wanted, mailbox, (f) => f.serverPath);
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

/** Every name the server lists, \Noselect levels too: a rename must not collide, a delete skip. */
async function allNames(client: ImapFlow): Promise<string[]> {
	const entries = await client.list();
	if (!Array.isArray(entries)) return (await listFolders(client)).map((f) => f.serverPath);
	return entries.map((e) => e.path);
}

/** Renames the folder in place (RENAME: subfolders and mail go with it); the folder as listed now. */
export async function renameImapFolder(
	client: ImapFlow,
	mailbox: string,
	wanted: string,
	name: string,
): Promise<{ folder: MailFolder; previousPath: string }> {
	forgetFolders(client);
	const folders = await cachedFolders(client);
	const folder = findFolder(folders, wanted, mailbox, (f) => f.serverPath);
	refuseWellKnown(folder, folders, 'rename');
	const leaf = checkFolderName(name, folder.delimiter);
	const cut = folder.delimiter ? folder.serverPath.lastIndexOf(folder.delimiter) : -1;
	const target = cut >= 0 ? `${folder.serverPath.slice(0, cut + 1)}${leaf}` : leaf;
	if (target === folder.serverPath)
		return { folder: publicFolder(folder), previousPath: folder.path };
	const taken = (await allNames(client)).some((n) => n.toLowerCase() === target.toLowerCase());
	if (taken && target.toLowerCase() !== folder.serverPath.toLowerCase())
		throw nameTaken(leaf, folder.path);
	const fix = 'Check your rights on the folder and its parent.';
	await changing(client, `rename "${folder.path}"`, fix, () =>
		client.mailboxRename(folder.serverPath, target),
	);
	const now = (await cachedFolders(client)).find((f) => f.serverPath === target);
	const path = displayPath(target, folder.delimiter);
	return {
		folder: publicFolder(now ?? { ...folder, serverPath: target, path, name: leaf }),
		previousPath: folder.path,
	};
}

/**
 * Moves the folder into another (RENAME under it), or with no destination to the top of the
 * mailbox (RENAME to its name alone): its subfolders and mail go with it.
 */
export async function moveImapFolder(
	client: ImapFlow,
	mailbox: string,
	wanted: string,
	destination: string | undefined,
): Promise<{ folder: MailFolder; previousPath: string }> {
	forgetFolders(client);
	const folders = await cachedFolders(client);
	const folder = findFolder(folders, wanted, mailbox, (f) => f.serverPath);
	refuseWellKnown(folder, folders, 'move');
	const into =
		destination === undefined
			? undefined
			: findFolder(folders, destination, mailbox, (f) => f.serverPath);
	if (into) refuseMoveInto(folder, into);
	const target = into ? `${into.serverPath}${into.delimiter}${folder.name}` : folder.name;
	const moved = { folder: publicFolder(folder), previousPath: folder.path };
	if (target === folder.serverPath) return moved;
	if ((await allNames(client)).some((n) => n.toLowerCase() === target.toLowerCase()))
		throw nameTakenIn(folder.name, into?.path);
	const fix = 'Check your rights on the folder and on the destination.';
	await changing(client, `move "${folder.path}"`, fix, () =>
		client.mailboxRename(folder.serverPath, target),
	);
	const now = (await cachedFolders(client)).find((f) => f.serverPath === target);
	const path = displayPath(target, folder.delimiter);
	return { ...moved, folder: publicFolder(now ?? { ...folder, serverPath: target, path }) };
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
	forgetFolders(client);
	const folders = await cachedFolders(client);
	const folder = findFolder(folders, wanted, mailbox, (f) => f.serverPath);
	refuseWellKnown(folder, folders, 'delete');
	const names = await allNames(client);
	const below = (n: string) => n.startsWith(`${folder.serverPath}${folder.delimiter}`);
	const fix = 'Check your rights on the folder, its subfolders and Deleted Items.';
	return await changing(client, `delete "${folder.path}"`, fix, async () => {
		if (permanent) {
			const doomed = names.filter(below).sort((a, b) => b.length - a.length);
			for (const name of [...doomed, folder.serverPath]) await client.mailboxDelete(name);
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
		if (names.some((n) => n.toLowerCase() === target.toLowerCase()))
			throw trashNameTaken(folder.name);
		await client.mailboxRename(folder.serverPath, target);
		return { folder: publicFolder(folder), movedTo: displayPath(target, trash.delimiter) };
	});
}

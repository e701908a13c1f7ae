/** Folder listing over IMAP, with Exchange-style paths ("Inbox/Tech-Support"). */
import type { ImapFlow } from 'imapflow';

import { MailServiceError } from '../auth/errors';
import { loadOnce } from '../cache';
import { findFolder } from '../folders';
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
): Promise<{ folder: ImapFolder | undefined; path: string; created: boolean }> {
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
	return { folder, path: display, created };
}

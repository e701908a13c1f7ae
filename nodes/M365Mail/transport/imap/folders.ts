/** Folder listing over IMAP, with Exchange-style paths ("Inbox/Tech-Support"). */
import type { ImapFlow } from 'imapflow';

import { MailServiceError } from '../auth/errors';
import type { MailFolder } from '../types';

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
	return folders.sort((a, b) => {
		if (a.wellKnownName === 'inbox') return -1;
		if (b.wellKnownName === 'inbox') return 1;
		return a.path.localeCompare(b.path);
	});
}

const folderCache = new WeakMap<ImapFlow, Promise<ImapFolder[]>>();

/** The folder list of this session, listed once. */
function cachedFolders(client: ImapFlow): Promise<ImapFolder[]> {
	let folders = folderCache.get(client);
	if (!folders) {
		folders = listFolders(client);
		folderCache.set(client, folders);
		folders.catch(() => folderCache.delete(client));
	}
	return folders;
}

/** Forgets the cached list after a folder was created. */
export function forgetFolders(client: ImapFlow): void {
	folderCache.delete(client);
}

/**
 * Finds a folder by the path users type (`Inbox/Tech-Support`, case-insensitive) or by a
 * well-known name (inbox, sentitems, drafts, deleteditems, junkemail, archive).
 */
export async function resolveFolder(
	client: ImapFlow,
	mailbox: string,
	wanted: string,
): Promise<ImapFolder> {
	const path = String(wanted ?? '')
		.trim()
		.replace(/^\/+|\/+$/g, '');
	const folders = await cachedFolders(client);
	const lower = path.toLowerCase();
	const found =
		folders.find((f) => f.path === path) ??
		folders.find((f) => f.path.toLowerCase() === lower) ??
		folders.find((f) => f.wellKnownName === lower.replace(/[\s_-]/g, '')) ??
		folders.find((f) => f.serverPath === path);
	if (found) return found;
	const near = folders
		.filter((f) => f.name.toLowerCase() === lower.split('/').pop())
		.map((f) => f.path);
	throw new MailServiceError(
		`Folder "${path || '(empty)'}" not found in ${mailbox}`,
		near.length
			? `Did you mean ${near.map((p) => `"${p}"`).join(' or ')}? Nested folders are written Parent/Child.`
			: 'Pick the folder from the list, or write its full path with "/" between levels (for example Inbox/Tech-Support).',
		'notFound',
	);
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

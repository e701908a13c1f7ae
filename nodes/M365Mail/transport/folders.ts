/** Finding a folder the way users name it, the same on both transports. */
import { MailServiceError } from './auth/errors';
import type { MailFolder } from './types';

/**
 * A folder by the path users type (`Inbox/Tech-Support`: exact, then case-insensitive), by a
 * well-known name (inbox, sentitems, drafts, deleteditems, junkemail, archive), or by the name the
 * transport itself gives it (`ownName`: IMAP's server path, Graph's id). None: an error with a hint.
 */
export function findFolder<F extends MailFolder>(
	folders: F[],
	wanted: string,
	mailbox: string,
	ownName: (folder: F) => string | undefined,
): F {
	const path = String(wanted ?? '')
		.trim()
		.replace(/^\/+|\/+$/g, '');
	const lower = path.toLowerCase();
	const found =
		folders.find((f) => f.path === path) ??
		folders.find((f) => f.path.toLowerCase() === lower) ??
		folders.find((f) => f.wellKnownName === lower.replace(/[\s_-]/g, '')) ??
		folders.find((f) => ownName(f) === path);
	if (found) return found;
	const near = folders
		.filter((f) => f.name.toLowerCase() === lower.split('/').pop())
		.map((f) => f.path);
	throw new MailServiceError(
		`Folder "${path || '(empty)'}" not found in ${mailbox || 'the mailbox'}`,
		near.length
			? `Did you mean ${near.map((p) => `"${p}"`).join(' or ')}? Nested folders are written Parent/Child.`
			: 'Pick the folder from the list, or write its full path with "/" between levels (for example Inbox/Tech-Support).',
		'notFound',
	);
}

const WELL_KNOWN_LABEL: Record<string, string> = {
	inbox: 'Inbox',
	sentitems: 'Sent Items',
	drafts: 'Drafts',
	deleteditems: 'Deleted Items',
	junkemail: 'Junk Email',
	archive: 'Archive',
};

/** Whether `path` is `parent` itself or lies below it (case-insensitive, as folders are found). */
export function isInside(path: string, parent: string): boolean {
	const p = path.toLowerCase();
	const q = parent.toLowerCase();
	return p === q || p.startsWith(`${q}/`);
}

/**
 * Renaming or deleting `folder` would take a well-known folder (Inbox, Sent Items...) with it, or
 * is that folder: refused before anything changes, as Outlook refuses it.
 */
export function refuseWellKnown(
	folder: MailFolder,
	folders: MailFolder[],
	verb: 'rename' | 'move' | 'delete',
): void {
	const hit = folders.find((f) => f.wellKnownName && isInside(f.path, folder.path));
	if (!hit) return;
	const label = WELL_KNOWN_LABEL[hit.wellKnownName!] ?? hit.path;
	throw new MailServiceError(
		hit === folder || hit.path.toLowerCase() === folder.path.toLowerCase()
			? `"${folder.path}" is the mailbox's ${label} folder, which cannot be ${verb}d`
			: `"${folder.path}" holds the mailbox's ${label} folder ("${hit.path}"), so it cannot be ${verb}d`,
		{
			rename: 'Pick a folder you created; Outlook keeps the names of its own folders.',
			move: 'Pick a folder you created; Outlook keeps its own folders where they are.',
			delete:
				"Pick a folder you created; to empty one of Outlook's own folders, delete its messages instead.",
		}[verb],
		'input',
	);
}

/**
 * A new folder name as typed: trimmed, one level (no "/", nor the server's own delimiter), no
 * control characters (they could end an IMAP command early). Refused with the fix otherwise.
 */
export function checkFolderName(name: string, delimiter = '/'): string {
	const trimmed = String(name ?? '').trim();
	const bad = (what: string, fix: string) => new MailServiceError(what, fix, 'input');
	if (!trimmed) throw bad('The new folder name is empty', 'Enter a name such as Customers.');
	if (trimmed.includes('/') || (delimiter && trimmed.includes(delimiter)))
		throw bad(
			`The new folder name "${trimmed}" has "${trimmed.includes('/') ? '/' : delimiter}" in it`,
			'Enter one name without "/": Rename keeps the folder where it is (to nest folders, use Create with a path).',
		);
	// eslint-disable-next-line no-control-regex
	if (/[\u0000-\u001f\u007f]/.test(trimmed))
		throw bad(
			'The new folder name has a control character (a line break, tab or NUL) in it',
			'Remove it from the name; an expression may have carried it in from a mail.',
		);
	if (trimmed.length > 255)
		throw bad(
			`The new folder name is ${trimmed.length} characters long`,
			'Use at most 255 characters.',
		);
	return trimmed;
}

/** Refusals both transports give before changing a folder, with the fix. */
export const nameTaken = (name: string, beside: string) =>
	new MailServiceError(
		`A folder named "${name}" already exists beside "${beside}"`,
		'Choose another name, or move or delete the other folder first.',
		'input',
	);

export const alreadyInTrash = (path: string) =>
	new MailServiceError(
		`"${path}" is already in Deleted Items`,
		'Turn on Delete Permanently to remove it and its mail for good.',
		'input',
	);

export const trashNameTaken = (name: string) =>
	new MailServiceError(
		`Deleted Items already has a folder named "${name}"`,
		'Rename this folder first, empty Deleted Items, or turn on Delete Permanently.',
		'input',
	);

/** A folder cannot move into itself or one of its own subfolders. */
export function refuseMoveInto(folder: MailFolder, destination: MailFolder): void {
	if (!isInside(destination.path, folder.path)) return;
	throw new MailServiceError(
		`"${folder.path}" cannot be moved into ${destination.path === folder.path ? 'itself' : `its own subfolder "${destination.path}"`}`,
		'Pick a destination outside the folder.',
		'input',
	);
}

/** The destination (none: the top of the mailbox) has a folder of that name. */
export const nameTakenIn = (name: string, destination?: string) =>
	new MailServiceError(
		`${destination ? `"${destination}"` : 'The top of the mailbox'} already has a folder named "${name}"`,
		'Rename one of the two folders first, or pick another destination.',
		'input',
	);

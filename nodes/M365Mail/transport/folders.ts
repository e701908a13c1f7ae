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

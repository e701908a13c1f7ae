/** Opening a folder of an IMAP mailbox under imapflow's lock, released in `finally`. */
import type { ImapFlow } from 'imapflow';

import { MailServiceError } from '../auth/errors';
import { foldersCarried, forgetFolders, resolveFolder, type ImapFolder } from './folders';
import { assertUsable, type OpenFolder } from './messages';

/**
 * Selects the folder (read-only unless asked), runs `work`, and always releases the lock. With
 * `currentUidNext`, UIDNEXT is the server's current one even on a session that selected the folder
 * earlier (only a poll for new mail needs it; other work is not slowed by the two round trips).
 */
export async function withFolder<T>(
	client: ImapFlow,
	mailbox: string,
	folderPath: string,
	options: { readOnly: boolean; currentUidNext?: boolean },
	work: (open: OpenFolder, folder: ImapFolder) => Promise<T>,
): Promise<T> {
	// The folder list an earlier poll read is trusted here, where opening the folder checks it: a
	// folder that no longer opens is looked up in a new list, and opened once more.
	const carried = foldersCarried(client);
	const folder = await resolveFolder(client, mailbox, folderPath, { carriedList: true });
	// A session that has the folder selected already is not selected again: ask for UIDNEXT, which
	// no untagged answer updates (a long-lived session would otherwise never see new mail).
	const selected =
		options.currentUidNext && client.mailbox && client.mailbox.path === folder.serverPath;
	let lock;
	let fresh: { uidNext?: number; messages?: number } | false = false;
	try {
		lock = await client.getMailboxLock(folder.serverPath, { readOnly: options.readOnly });
		if (selected) {
			// NOOP first: the server brings the session's view up to date (Dovecot answers STATUS
			// on the selected folder from that view).
			await client.noop();
			fresh = await client.status(folder.serverPath, { uidNext: true, messages: true });
		}
	} catch (error) {
		assertUsable(client, `opening ${folder.path}`);
		if (carried && foldersCarried(client)) {
			forgetFolders(client);
			return await withFolder(client, mailbox, folderPath, options, work);
		}
		const e = error as { responseText?: string; message?: string };
		throw new MailServiceError(
			`Folder "${folder.path}" of ${mailbox} could not be opened: ${e.responseText ?? e.message ?? ''}`,
			'Check that the folder still exists and that you have full access to the mailbox.',
			'notFound',
		);
	}
	try {
		const state = client.mailbox;
		if (!state) {
			assertUsable(client, `opening ${folder.path}`);
			throw new MailServiceError(`Folder "${folder.path}" did not open`, 'Try again.', 'network');
		}
		return await work(
			{
				client,
				mailbox,
				folder: folder.path,
				uidValidity: String(state.uidValidity),
				uidNext: (fresh && fresh.uidNext) || state.uidNext,
				exists: fresh && fresh.messages !== undefined ? fresh.messages : state.exists,
			},
			folder,
		);
	} finally {
		lock.release();
	}
}

/** Runs `work` on the folder an options object names, read-only. */
export async function readingFolder<T>(
	client: ImapFlow,
	where: { mailbox: string; folder: string },
	work: (open: OpenFolder) => Promise<T>,
	options: { currentUidNext?: boolean } = {},
): Promise<T> {
	return await withFolder(
		client,
		where.mailbox,
		where.folder,
		{ readOnly: true, ...options },
		work,
	);
}

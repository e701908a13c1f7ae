/** Opening a folder of an IMAP mailbox under imapflow's lock, released in `finally`. */
import type { ImapFlow } from 'imapflow';

import { MailServiceError } from '../auth/errors';
import { resolveFolder, type ImapFolder } from './folders';
import { assertUsable, type OpenFolder } from './messages';

/** Selects the folder (read-only unless asked), runs `work`, and always releases the lock. */
export async function withFolder<T>(
	client: ImapFlow,
	mailbox: string,
	folderPath: string,
	options: { readOnly: boolean },
	work: (open: OpenFolder, folder: ImapFolder) => Promise<T>,
): Promise<T> {
	const folder = await resolveFolder(client, mailbox, folderPath);
	let lock;
	try {
		lock = await client.getMailboxLock(folder.serverPath, { readOnly: options.readOnly });
	} catch (error) {
		assertUsable(client, `opening ${folder.path}`);
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
				uidNext: state.uidNext,
				exists: state.exists,
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
): Promise<T> {
	return await withFolder(client, where.mailbox, where.folder, { readOnly: true }, work);
}

/** Folder listing over IMAP, with Exchange-style paths ("Inbox/Tech-Support"). */
import type { ImapFlow } from 'imapflow';

import { MailServiceError } from '../auth/errors';

export interface MailFolder {
	/** Full path with "/" as separator, as users type it: `Inbox/Tech-Support`. */
	path: string;
	name: string;
	/** Well-known role: inbox, sentitems, drafts, deleteditems, junkemail, archive. */
	wellKnownName?: string;
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

/** Lists every selectable folder of the mailbox, nested ones included, Inbox first. */
export async function listFolders(client: ImapFlow): Promise<MailFolder[]> {
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
		.map<MailFolder>((e) => ({
			path: e.delimiter && e.delimiter !== '/' ? e.path.split(e.delimiter).join('/') : e.path,
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

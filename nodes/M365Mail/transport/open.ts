/** Opens the Mailbox of a connection: over Microsoft Graph or IMAP + SMTP, as the node chose. */
import { graphClientFor, type MailConnection } from './connection';
import { GraphMailbox } from './graph/mailbox';
import { ImapMailbox, type MailboxOptions } from './imap/mailbox';
import type { Mailbox } from './mailbox';

export type { MailboxOptions };

/** The mailbox `address` over the connection's transport; nothing is opened until first use. */
export function openMailbox(
	connection: MailConnection,
	address: string,
	options: MailboxOptions = {},
): Mailbox {
	if (connection.transport === 'graph')
		return new GraphMailbox(graphClientFor(connection, address));
	return new ImapMailbox(connection, address, options);
}

/** One Mailbox per address for a whole execution (an IMAP session, a Graph folder list read once). */
export class Mailboxes {
	private readonly open = new Map<string, Mailbox>();

	constructor(
		private readonly connection: MailConnection,
		private readonly options: MailboxOptions = {},
	) {}

	get(address: string): Mailbox {
		const key = address.toLowerCase();
		let mailbox = this.open.get(key);
		if (!mailbox) {
			mailbox = openMailbox(this.connection, address, this.options);
			this.open.set(key, mailbox);
		}
		return mailbox;
	}

	async closeAll(): Promise<void> {
		const all = [...this.open.values()];
		this.open.clear();
		for (const mailbox of all) await mailbox.close().catch(() => undefined);
	}
}

/** One IMAP session per mailbox for a whole execution, opened on first use and closed at the end. */
import type { ImapFlow } from 'imapflow';

import type { MailConnection } from '../transport/connection';
import { openImapSession } from '../transport/imap/session';

export class ImapSessions {
	private readonly open = new Map<string, Promise<ImapFlow>>();

	constructor(private readonly connection: MailConnection) {}

	/** The session for this mailbox; a session whose socket died is replaced. */
	async get(mailbox: string): Promise<ImapFlow> {
		const key = mailbox.toLowerCase();
		const existing = this.open.get(key);
		if (existing) {
			const client = await existing.catch(() => undefined);
			if (client?.usable) return client;
			this.open.delete(key);
		}
		const session = openImapSession({ ...this.connection, mailbox });
		this.open.set(key, session);
		session.catch(() => this.open.delete(key));
		return await session;
	}

	async closeAll(): Promise<void> {
		const sessions = [...this.open.values()];
		this.open.clear();
		for (const session of sessions) {
			const client = await session.catch(() => undefined);
			if (client) await client.logout().catch(() => client.close());
		}
	}
}

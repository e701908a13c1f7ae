/**
 * Outgoing mail for the IMAP + SMTP mailbox: a send over SMTP (with a copy in Sent Items for servers
 * that keep none), and a draft saved in Drafts over IMAP, not sent.
 */
import type { ImapFlow } from 'imapflow';

import { MailServiceError, redactSecrets } from '../auth/errors';
import type { MailConnection } from '../connection';
import { composeMessage, type OutgoingMessage } from '../mime/compose';
import { sendComposedMessage } from '../smtp/send';
import type { ImapMessageLocation, SendOutcome } from '../types';
import { resolveFolder } from './folders';

/** What the mailbox lends: its connection, its address, its IMAP session and its warning log. */
export interface Outgoing {
	connection: MailConnection;
	address: string;
	client: () => Promise<ImapFlow>;
	warn?: (message: string) => void;
}

export async function sendOverSmtp(
	out: Outgoing,
	message: OutgoingMessage,
	appendToSent: boolean,
): Promise<SendOutcome> {
	const composed = await composeMessage(message);
	const { connection, address } = out;
	// SMTP signs in as the signed-in user (delegated) or as the mailbox (app-only).
	const { tokens } = connection;
	const user = tokens.kind === 'appOnly' ? address : ((await tokens.signedInMailbox()) ?? address);
	const result = await sendComposedMessage({ ...connection, user }, composed);
	let savedToSent = false;
	if (appendToSent) {
		try {
			const client = await out.client();
			const sent = await resolveFolder(client, address, 'sentitems');
			savedToSent = Boolean(await client.append(sent.serverPath, composed.raw, ['\\Seen']));
		} catch (error) {
			// The mail is out: a failed copy must not fail the item (a retry would send it twice).
			out.warn?.(
				`Sent, but the copy to Sent Items failed: ${redactSecrets((error as Error).message)}`,
			);
		}
	}
	return {
		messageId: result.messageId,
		from: address,
		accepted: result.accepted,
		rejected: result.rejected,
		savedToSent,
	};
}

/**
 * Appends the message to the mailbox's Drafts folder (found by its special use) as a draft (\Draft,
 * and \Seen as Outlook saves its own), its Bcc kept for the send from Outlook. Nothing goes out.
 * Where it went (`location`), unless a server without UIDPLUS did not say it.
 */
export async function saveImapDraft(
	out: Outgoing,
	message: OutgoingMessage,
): Promise<{ folder: string; location?: ImapMessageLocation; messageId: string }> {
	const composed = await composeMessage(message, { keepBcc: true });
	const client = await out.client();
	const drafts = await resolveFolder(client, out.address, 'drafts');
	const saved = await client.append(drafts.serverPath, composed.raw, ['\\Draft', '\\Seen']);
	if (!saved) {
		throw new MailServiceError(
			`The IMAP server did not save the draft in ${drafts.path}`,
			'Check that the mailbox has room for it (its quota) and that its Drafts folder can be written to. Nothing was sent.',
			'unknown',
		);
	}
	const { uid, uidValidity } = saved;
	const draft = { folder: drafts.path, messageId: composed.messageId };
	if (uid === undefined || uidValidity === undefined) return draft;
	return { ...draft, location: { folder: drafts.path, uidValidity: String(uidValidity), uid } };
}

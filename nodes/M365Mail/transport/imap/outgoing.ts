/**
 * Outgoing mail for the IMAP + SMTP mailbox: a send over SMTP (with a copy in Sent Items for servers
 * that keep none), a draft saved in Drafts over IMAP, not sent, and a saved draft sent.
 */
import type { ImapFlow } from 'imapflow';

import { MailServiceError, redactSecrets } from '../auth/errors';
import type { MailConnection } from '../connection';
import { composeMessage, type OutgoingMessage } from '../mime/compose';
import { draftToSend, draftWithoutRecipients, notADraft } from '../mime/draft';
import { sendComposedMessage } from '../smtp/send';
import type { DraftSendOutcome, ImapMessageLocation, SendOutcome } from '../types';
import { fetchAllChecked, type OpenFolder } from './fetch';
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
	const user = await smtpUser(out);
	const result = await sendComposedMessage({ ...connection, user }, composed);
	return {
		messageId: result.messageId,
		from: address,
		accepted: result.accepted,
		rejected: result.rejected,
		savedToSent: appendToSent && (await appendSentCopy(out, composed.raw)),
	};
}

/** A sent message's copy in Sent Items; a failure is a warning (the mail is out). */
async function appendSentCopy(out: Outgoing, raw: Buffer): Promise<boolean> {
	try {
		const client = await out.client();
		const sent = await resolveFolder(client, out.address, 'sentitems');
		return Boolean(await client.append(sent.serverPath, raw, ['\\Seen']));
	} catch (error) {
		// A failed copy must not fail the item: a retry would send the mail twice.
		out.warn?.(
			`Sent, but the copy to Sent Items failed: ${redactSecrets((error as Error).message)}`,
		);
		return false;
	}
}

/** The SMTP account: the signed-in user (delegated) or the mailbox itself (app-only). */
async function smtpUser(out: Outgoing): Promise<string> {
	const { tokens } = out.connection;
	return tokens.kind === 'appOnly'
		? out.address
		: ((await tokens.signedInMailbox()) ?? out.address);
}

/**
 * The bytes of a stored message Send Draft may send, or `gone`. A draft carries `\Draft`, or lies in
 * the Drafts folder (whatever flags a server shows there): received mail elsewhere is refused.
 */
export async function readImapDraft(
	open: OpenFolder,
	uid: number,
	gone: MailServiceError,
	inDrafts: boolean,
): Promise<Buffer> {
	const query = { uid: true, flags: true, source: true };
	const [stored] = await fetchAllChecked(open, [uid], query, 'reading the draft');
	if (!stored?.source) throw gone;
	if (!inDrafts && !stored.flags?.has('\\Draft')) throw notADraft();
	return stored.source;
}

/** What Send Draft needs of the mailbox: the draft's bytes, and its delete. */
export interface StoredDraft {
	read: () => Promise<Buffer>;
	remove: () => Promise<void>;
}

/**
 * Sends a saved draft over SMTP as it was saved (Bcc to the envelope only, dated now), copies it to
 * Sent Items if asked, and deletes the draft: once sent, it must not be sent again from Outlook. A
 * failed copy or delete is a warning, not a failed item (a retry would send the mail twice).
 */
export async function sendImapDraft(
	out: Outgoing,
	stored: StoredDraft,
	appendToSent: boolean,
): Promise<DraftSendOutcome> {
	const draft = await draftToSend(await stored.read(), new Date());
	if (!draft.recipients.length) throw draftWithoutRecipients();
	const { connection, address } = out;
	const messageId = draft.messageId ?? '';
	const composed = { raw: draft.raw, messageId, envelope: { from: address, to: draft.recipients } };
	const result = await sendComposedMessage({ ...connection, user: await smtpUser(out) }, composed);
	const savedToSent = appendToSent && (await appendSentCopy(out, draft.raw));
	const draftRemoved = await stored.remove().then(
		() => true,
		(error: Error) => {
			out.warn?.(`Sent, but the draft stays in Drafts: ${redactSecrets(error.message)}`);
			return false;
		},
	);
	const { to, cc, subject } = draft;
	const { accepted, rejected } = result;
	return {
		messageId,
		from: address,
		accepted,
		rejected,
		savedToSent,
		to,
		cc,
		subject,
		draftRemoved,
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

/**
 * Composes a message once, with nodemailer's composer, so the same MIME serves SMTP, an IMAP APPEND
 * to Sent Items, and Graph's MIME send.
 */
import { lazy } from '../lazy';
import type MailComposerType from 'nodemailer/lib/mail-composer';

const loadComposer = lazy(() => import('nodemailer/lib/mail-composer'));

import type { Importance } from '../types';

export interface OutgoingAttachment {
	filename: string;
	contentType?: string;
	content: Buffer;
	/** Set for an image the HTML body references as cid:... */
	contentId?: string;
}

export interface OutgoingMessage {
	from: string;
	to: string[];
	cc?: string[];
	bcc?: string[];
	replyTo?: string[];
	subject: string;
	text?: string;
	html?: string;
	attachments?: OutgoingAttachment[];
	importance?: Importance;
	/** Extra headers; Bcc, From, To and other structural headers are refused by the caller. */
	headers?: Record<string, string>;
	inReplyTo?: string;
	references?: string[];
}

export interface ComposedMessage {
	raw: Buffer;
	messageId: string;
	/** SMTP envelope: the From address and every recipient, Bcc included. */
	envelope: { from: string; to: string[] };
}

/** The headers Outlook writes for importance (the composer itself ignores `priority`). */
const IMPORTANCE_HEADERS: Record<Importance, Record<string, string>> = {
	high: { 'X-Priority': '1 (Highest)', 'X-MSMail-Priority': 'High', Importance: 'High' },
	normal: {},
	low: { 'X-Priority': '5 (Lowest)', 'X-MSMail-Priority': 'Low', Importance: 'Low' },
};

/**
 * Builds the RFC 822 bytes. For SMTP, Bcc stays out of the headers (the envelope carries it); Graph's
 * MIME send reads recipients from the headers, so it asks to keep Bcc (Exchange strips it on delivery).
 */
export async function composeMessage(
	message: OutgoingMessage,
	options: { keepBcc?: boolean } = {},
): Promise<ComposedMessage> {
	// Required on first use: n8n loads every node file when it starts.
	const MailComposer = (await loadComposer()).default as unknown as typeof MailComposerType;
	const composer = new MailComposer({
		from: message.from,
		to: message.to,
		cc: message.cc?.length ? message.cc : undefined,
		bcc: message.bcc?.length ? message.bcc : undefined,
		replyTo: message.replyTo?.length ? message.replyTo : undefined,
		subject: message.subject,
		text: message.text,
		html: message.html,
		headers: { ...IMPORTANCE_HEADERS[message.importance ?? 'normal'], ...message.headers },
		inReplyTo: message.inReplyTo,
		references: message.references,
		attachments: (message.attachments ?? []).map((a) => ({
			filename: a.filename,
			contentType: a.contentType,
			content: a.content,
			cid: a.contentId,
		})),
		// Content comes only from n8n binary data: never let a value read a file or fetch a URL.
		disableFileAccess: true,
		disableUrlAccess: true,
	});
	const node = composer.compile();
	node.keepBcc = options.keepBcc === true;
	const envelope = node.getEnvelope();
	const raw = await node.build();
	return {
		raw,
		messageId: node.messageId(),
		envelope: { from: envelope.from || message.from, to: envelope.to },
	};
}

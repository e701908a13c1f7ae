/**
 * A saved draft made ready to go out (Send Draft over IMAP + SMTP): the same MIME, with its Bcc
 * header taken out (recipients must not see it; the envelope carries those addresses) and its Date
 * set to the time of sending, as Outlook does. Everything else, body and attachments, is sent as
 * saved, byte for byte.
 */
import { MailServiceError } from '../auth/errors';
import { addressList, headerBounds, splitTools } from './split';

export interface DraftToSend {
	/** The MIME to send: without Bcc, dated now. */
	raw: Buffer;
	/** Every recipient for the SMTP envelope (To, Cc and Bcc, each address once). */
	recipients: string[];
	to: string[];
	cc: string[];
	bcc: string[];
	subject: string;
	messageId?: string;
}

/** RFC 5322's date as nodemailer writes it, in UTC. */
export function rfc5322Date(date: Date): string {
	return date.toUTCString().replace(/GMT$/, '+0000');
}

/** The header block's fields, each with its folded lines and line break, in order. */
function headerFieldsOf(header: string): Array<{ name: string; text: string }> {
	const fields: Array<{ name: string; text: string }> = [];
	for (const line of header.match(/[^\n]*\n|[^\n]+$/g) ?? []) {
		const last = fields[fields.length - 1];
		if (last && /^[ \t]/.test(line)) {
			last.text += line;
			continue;
		}
		const colon = line.indexOf(':');
		fields.push({ name: colon > 0 ? line.slice(0, colon).trim().toLowerCase() : '', text: line });
	}
	return fields;
}

/** The draft's MIME without Bcc and dated `now`, and who it goes to. Never throws on odd MIME. */
export async function draftToSend(source: Buffer, now: Date): Promise<DraftToSend> {
	const tools = await splitTools();
	const { headerEnd } = headerBounds(source, 0, source.length);
	// latin1 keeps every byte of the header as it was (8-bit names included).
	const fields = headerFieldsOf(source.toString('latin1', 0, headerEnd));
	const lists = { to: [] as string[], cc: [] as string[], bcc: [] as string[] };
	let subject = '';
	let messageId: string | undefined;
	for (const field of fields) {
		const value = () =>
			Buffer.from(field.text.slice(field.text.indexOf(':') + 1), 'latin1')
				.toString('utf8')
				.replace(/\r?\n(?=[ \t])/g, '')
				.trim();
		if (field.name === 'to' || field.name === 'cc' || field.name === 'bcc') {
			// Every To, Cc and Bcc field counts, should a draft carry one twice.
			for (const entry of addressList(tools, value()) ?? [])
				if (entry.address) lists[field.name].push(entry.address.toLowerCase());
		} else if (field.name === 'subject' && !subject) {
			subject = tools.libmime.decodeWords(value());
		} else if (field.name === 'message-id' && !messageId) {
			messageId = value() || undefined;
		}
	}
	// The line break the header uses (or, without one, the blank line before the body).
	const first = fields[0]?.text ?? source.toString('latin1', headerEnd, headerEnd + 2);
	const lineBreak = first.endsWith('\r\n') ? '\r\n' : '\n';
	const kept = fields.filter((f) => f.name !== 'bcc' && f.name !== 'date').map((f) => f.text);
	const header = `Date: ${rfc5322Date(now)}${lineBreak}${kept.join('')}`;
	const raw = Buffer.concat([Buffer.from(header, 'latin1'), source.subarray(headerEnd)]);
	const unique = (list: string[]) => [...new Set(list)];
	return {
		raw,
		recipients: unique([...lists.to, ...lists.cc, ...lists.bcc]),
		to: unique(lists.to),
		cc: unique(lists.cc),
		bcc: unique(lists.bcc),
		subject,
		messageId,
	};
}

/** Send Draft given a message that is not a draft (it would send received mail on as is). */
export function notADraft(): MailServiceError {
	return new MailServiceError(
		'The message is not a draft',
		'Send Draft sends a message saved in Drafts (by Create Draft, by Reply or Forward with "Save as Draft", or in Outlook). To send a received message on, use Forward.',
		'input',
	);
}

/** Send Draft given a draft nobody is addressed in. */
export function draftWithoutRecipients(): MailServiceError {
	return new MailServiceError(
		'The draft has no recipient: nothing was sent',
		'Add To, Cc or Bcc to the draft (in Outlook, or create it again with Create Draft and a To), then send it.',
		'input',
	);
}

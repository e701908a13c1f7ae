/**
 * Turns mail into our message shape, in one place: a raw RFC 822 message through mailparser, or
 * (for the fast "simple" path) the server's envelope, body structure and decoded text parts.
 */
import { lazy } from '../lazy';

// Types only at load time: mailparser is required on first parse.
import type { AddressObject, ParsedMail } from 'mailparser';

import { compactString, normalizeText, type BodyPart } from './decode';
import type {
	AttachmentContent,
	AttachmentInfo,
	Importance,
	MailAddress,
	MailMessage,
} from '../types';
import { attachmentName, safeFileName, safeMimeType } from './filename';
import { fullTools, parseWhole } from './full';
import type { SplitMessage } from './split';

const loadMailparser = lazy(() => import('mailparser'));

/** Headers kept in the simple output: the ones people filter and route on. */
export const HEADERS_OF_INTEREST = [
	'importance',
	'x-priority',
	'priority',
	'list-id',
	'list-unsubscribe',
	'auto-submitted',
	'precedence',
	'x-auto-response-suppress',
	'references',
	'in-reply-to',
	'return-path',
	'x-ms-exchange-organization-scl',
];

/** What the server knows about a message without parsing it. */
export interface MessageEnvelope {
	id: string;
	mailbox: string;
	folder: string;
	uidValidity?: string;
	uid?: number;
	flags: Iterable<string>;
	internalDate?: Date | string;
	size: number;
	messageId?: string;
	subject?: string;
	date?: Date | string;
	inReplyTo?: string;
	from?: Array<{ name?: string; address?: string }>;
	sender?: Array<{ name?: string; address?: string }>;
	to?: Array<{ name?: string; address?: string }>;
	cc?: Array<{ name?: string; address?: string }>;
	bcc?: Array<{ name?: string; address?: string }>;
	replyTo?: Array<{ name?: string; address?: string }>;
}

export interface ParsedMessage {
	message: MailMessage;
	attachments: AttachmentContent[];
	/** Everything mailparser read, for the "full" output (no attachment bytes). */
	full?: Record<string, unknown>;
}

function iso(value: Date | string | undefined | null): string | null {
	if (!value) return null;
	const date = value instanceof Date ? value : new Date(value);
	return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function addresses(list: Array<{ name?: string; address?: string }> | undefined): MailAddress[] {
	return (list ?? [])
		.filter((a) => a.address || a.name)
		.map((a) => ({ name: a.name ?? '', address: (a.address ?? '').toLowerCase() }));
}

function parsedAddresses(value: AddressObject | AddressObject[] | undefined): MailAddress[] {
	const objects = Array.isArray(value) ? value : value ? [value] : [];
	return objects.flatMap((o) =>
		o.value
			.flatMap((a) => (a.group ? a.group : [a]))
			.map((a) => ({
				name: a.name ?? '',
				address: (a.address ?? '').toLowerCase(),
			})),
	);
}

/** Importance from the Importance, Priority or X-Priority header (Outlook writes the first). */
export function importanceOf(headers: Record<string, string>): Importance {
	const importance = (headers.importance ?? headers.priority ?? '').toLowerCase();
	if (/low|non-urgent/.test(importance)) return 'low';
	if (/high|urgent/.test(importance)) return 'high';
	const xPriority = /^\s*(\d)/.exec(headers['x-priority'] ?? '');
	if (xPriority) {
		const level = Number(xPriority[1]);
		if (level <= 2) return 'high';
		if (level >= 4) return 'low';
	}
	return 'normal';
}

/** Unfolds a raw header block and keeps the named headers (lower-case keys, first value). */
export function pickHeaders(raw: Buffer | string | undefined, names = HEADERS_OF_INTEREST) {
	const result: Record<string, string> = {};
	if (!raw) return result;
	const text = raw.toString('utf8').replace(/\r?\n[ \t]+/g, ' ');
	for (const line of text.split(/\r?\n/)) {
		const colon = line.indexOf(':');
		if (colon <= 0) continue;
		const key = line.slice(0, colon).trim().toLowerCase();
		if (names.includes(key) && !(key in result)) result[key] = line.slice(colon + 1).trim();
	}
	return result;
}

function messageIds(value: string | string[] | undefined): string[] {
	const text = Array.isArray(value) ? value.join(' ') : (value ?? '');
	return text.match(/<[^<>\s]+>/g) ?? [];
}

function flagFields(flags: Iterable<string>) {
	const list = [...flags];
	return {
		flags: list,
		isRead: list.includes('\\Seen'),
		isFlagged: list.includes('\\Flagged'),
		isAnswered: list.includes('\\Answered'),
	};
}

/** The message as far as the envelope goes: ids, addresses, flags (no body). */
export function messageFromEnvelope(
	envelope: MessageEnvelope,
	headers: Record<string, string> = {},
): MailMessage {
	return {
		id: envelope.id,
		mailbox: envelope.mailbox,
		folder: envelope.folder,
		uidValidity: envelope.uidValidity,
		uid: envelope.uid,
		messageId: envelope.messageId ?? null,
		subject: headerText(envelope.subject),
		from: addresses(envelope.from)[0] ?? null,
		sender: addresses(envelope.sender)[0] ?? null,
		to: addresses(envelope.to),
		cc: addresses(envelope.cc),
		bcc: addresses(envelope.bcc),
		replyTo: addresses(envelope.replyTo),
		date: iso(envelope.date),
		receivedAt: iso(envelope.internalDate),
		text: null,
		html: null,
		...flagFields(envelope.flags),
		importance: importanceOf(headers),
		hasAttachments: false,
		attachments: [],
		inReplyTo: envelope.inReplyTo ?? headers['in-reply-to'] ?? null,
		references: messageIds(headers.references),
		headers,
		size: envelope.size,
	};
}

function headerValue(value: unknown): string {
	if (value === null || value === undefined) return '';
	if (typeof value === 'string') return value;
	if (value instanceof Date) return value.toISOString();
	if (Array.isArray(value)) return value.map(headerValue).join(', ');
	if (typeof value === 'object') {
		const v = value as { value?: unknown; text?: string };
		if (typeof v.text === 'string') return v.text;
		if (v.value !== undefined) return headerValue(v.value);
	}
	return String(value);
}

function withoutContent(a: AttachmentContent): AttachmentInfo {
	const info: AttachmentInfo & { content?: Buffer } = { ...a };
	delete info.content;
	return info;
}

function isInline(a: ParsedMail['attachments'][number]): boolean {
	return a.related === true || (a.contentDisposition === 'inline' && Boolean(a.contentId));
}

/**
 * Parses a raw message. Malformed MIME never throws: the envelope fills what mailparser could not
 * read, and `parseError` says what went wrong.
 */
export async function parseRawMessage(
	raw: Buffer,
	envelope: MessageEnvelope,
	/** `mailparser`: never the whole-message reader (for tests that compare the two). */
	options: {
		full?: boolean;
		reader?: 'mailparser';
		split?: SplitMessage;
		/** `false`: the caller drops attachment bytes; the whole-message reader only measures them. */
		attachmentContent?: boolean;
	} = {},
): Promise<ParsedMessage> {
	let parsed: ParsedMail | undefined;
	if (options.reader !== 'mailparser') {
		try {
			// Mail of the common shapes is read from one split of the whole message (full.ts): the
			// same result as mailparser's, which reads the rest.
			parsed = parseWhole(
				await fullTools(),
				raw,
				{ full: Boolean(options.full), sizesOnly: options.attachmentContent === false },
				options.split,
			);
		} catch {
			parsed = undefined;
		}
	}
	if (!parsed)
		try {
			// No auto-linking of URLs in textAsHtml (slow, and rarely wanted in automations); textAsHtml
			// itself only when the full output shows it.
			const { simpleParser } = await loadMailparser();
			parsed = await simpleParser(raw, {
				skipImageLinks: true,
				skipTextLinks: true,
				skipTextToHtml: !options.full,
				maxHtmlLengthToParse: 2_000_000,
			});
		} catch (error) {
			const message = messageFromEnvelope(envelope, pickHeaders(raw.subarray(0, 64 * 1024)));
			message.parseError = (error as Error).message;
			return { message, attachments: [] };
		}
	// From the raw lines: mailparser folds Importance/X-Priority into "priority" and List-* into "list".
	const headers = pickHeaders(parsed.headerLines.map((h) => h.line).join('\r\n'));
	const attachments: AttachmentContent[] = parsed.attachments.map((a, index) => ({
		index,
		...attachmentName(a.filename, index),
		contentType: safeMimeType(a.contentType, safeFileName(a.filename, index)),
		size: a.size ?? a.content.length,
		contentId: a.contentId ?? undefined,
		inline: isInline(a),
		content: a.content,
	}));
	const base = messageFromEnvelope(envelope, headers);
	const message: MailMessage = {
		...base,
		messageId: parsed.messageId ?? base.messageId,
		subject: parsed.subject !== undefined ? headerText(parsed.subject) : base.subject,
		from: parsedAddresses(parsed.from)[0] ?? base.from,
		to: parsed.to ? parsedAddresses(parsed.to) : base.to,
		cc: parsed.cc ? parsedAddresses(parsed.cc) : base.cc,
		bcc: parsed.bcc ? parsedAddresses(parsed.bcc) : base.bcc,
		replyTo: parsed.replyTo ? parsedAddresses(parsed.replyTo) : base.replyTo,
		date: iso(parsed.date) ?? base.date,
		text: normalizeText(parsed.text),
		html: typeof parsed.html === 'string' ? compactString(parsed.html) : null,
		hasAttachments: attachments.some((a) => !a.inline),
		attachments: attachments.map((a) => withoutContent(a)),
		inReplyTo: parsed.inReplyTo ?? base.inReplyTo,
		references: messageIds(parsed.references),
	};
	if (!options.full) return { message, attachments };
	const allHeaders: Record<string, string> = {};
	for (const [key, value] of parsed.headers) allHeaders[key] = headerValue(value);
	return {
		message,
		attachments,
		full: {
			allHeaders,
			headerLines: parsed.headerLines,
			textAsHtml: compactString(parsed.textAsHtml ?? null),
		},
	};
}

export interface StructureSummary {
	textPart?: BodyPart;
	htmlPart?: BodyPart;
	attachments: AttachmentInfo[];
	/** The IMAP section that holds a text part's body (BODY[section]). */
	section(part: BodyPart): string;
}

/** Finds the text and HTML bodies and the attachments in a body structure, without any download. */
export function summarizeStructure(root: BodyPart | undefined): StructureSummary {
	// The body of a single-part message is section 1; a leaf that is an attached message's whole
	// body shares its wrapper's number, and its body without the headers is section N.TEXT.
	const encapsulated = new Set<BodyPart>();
	const summary: StructureSummary = {
		attachments: [],
		section: (part) => (encapsulated.has(part) ? `${part.part ?? '1'}.TEXT` : (part.part ?? '1')),
	};
	const walk = (node: BodyPart, related: boolean, inMessage: boolean) => {
		const type = node.type.toLowerCase();
		if (node.childNodes?.length) {
			for (const child of node.childNodes)
				walk(child, related || type === 'multipart/related', type === 'message/rfc822');
			return;
		}
		const disposition = (node.disposition ?? '').toLowerCase();
		const filename = node.dispositionParameters?.filename ?? node.parameters?.name ?? undefined;
		const isBody =
			disposition !== 'attachment' && !filename && (type === 'text/plain' || type === 'text/html');
		if (isBody && inMessage && node.part) encapsulated.add(node);
		if (isBody && type === 'text/plain' && !summary.textPart) summary.textPart = node;
		else if (isBody && type === 'text/html' && !summary.htmlPart) summary.htmlPart = node;
		else if (!isBody) {
			const index = summary.attachments.length;
			const named = attachmentName(filename, index);
			summary.attachments.push({
				index,
				...named,
				contentType: safeMimeType(type, named.filename),
				size: node.size ?? 0,
				contentId: node.id ?? undefined,
				inline: Boolean(node.id) && (related || disposition === 'inline'),
			});
		}
	};
	if (root) walk(root, false, false);
	return summary;
}

/**
 * A decoded header as one line: an encoded word can carry CR, LF, NUL or bidi controls, which have
 * no place in a subject (they would split a header of a reply, or hide text).
 */
export function headerText(value: string | null | undefined): string {
	return String(value ?? '')
		.replace(/[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]+/gu, ' ')
		.replace(/ {2,}/g, ' ')
		.trim();
}

/**
 * Why a message is automated mail that must not get an automatic reply (RFC 3834: auto-replies,
 * bounces, lists, bulk), or undefined. Replying to it starts mail loops or answers a list.
 */
export function automatedMailReason(headers: Record<string, string>): string | undefined {
	const auto = (headers['auto-submitted'] ?? '').trim().toLowerCase();
	if (auto && auto !== 'no') return `Auto-Submitted: ${auto}`;
	const precedence = (headers.precedence ?? '').trim().toLowerCase();
	if (['bulk', 'junk', 'list', 'auto_reply'].includes(precedence))
		return `Precedence: ${precedence}`;
	if (headers['list-id'] || headers['list-unsubscribe'])
		return 'a mailing list (List-Id / List-Unsubscribe)';
	if (/\b(all|autoreply|oof)\b/i.test(headers['x-auto-response-suppress'] ?? ''))
		return `X-Auto-Response-Suppress: ${headers['x-auto-response-suppress']}`;
	if ((headers['return-path'] ?? '').trim() === '<>') return 'a bounce (empty Return-Path)';
	return undefined;
}

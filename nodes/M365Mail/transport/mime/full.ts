/**
 * The parsed and full outputs of mail of the common shapes, read from the whole-message split
 * (split.ts) instead of mailparser's stream: the same result mailparser gives (the header map by
 * mailparser's own header rules, the same text, HTML and attachments), without reading every byte
 * through a chain of streams. Anything of another shape (an attached message, a digest, flowed
 * text, a charset other than UTF-8 or ASCII, an unclosed multipart, an mbox line, …) returns
 * undefined and goes to mailparser. test/integration/split.test.ts and test/unit/full.test.ts hold
 * the two to the same result.
 */
import type { ParsedMail } from 'mailparser';

import { lazy } from '../lazy';
import { decodeBase64Text, type BodyPart } from './decode';
import { splitMessage, splitTools, type SplitMessage } from './split';

interface MailParserInternals {
	processHeaders(lines: HeaderLine[]): Map<string, unknown>;
	textToHtml(text: string): string;
}

interface HeaderLine {
	key: string;
	line: string;
}

/** mailparser's options as parseRawMessage passes them (the parser is used for its header rules). */
export interface FullOptions {
	full: boolean;
	/**
	 * Attachment bytes are not wanted (a poll without binary output): a plain base64 attachment is
	 * measured, not decoded; its `content` is empty and its `size` is what decoding would give.
	 */
	sizesOnly?: boolean;
}

const MAX_HTML_LENGTH = 2_000_000;

const loadTools = lazy(async () => {
	const [split, mailparser, htmlToText] = await Promise.all([
		splitTools(),
		import('mailparser'),
		import('html-to-text'),
	]);
	const parser = (full: boolean) =>
		new mailparser.MailParser({
			skipImageLinks: true,
			skipTextLinks: true,
			skipTextToHtml: !full,
			maxHtmlLengthToParse: MAX_HTML_LENGTH,
		}) as unknown as MailParserInternals;
	return {
		split,
		parsers: { full: parser(true), parsed: parser(false) },
		htmlToText: htmlToText.convert,
	};
});

export type FullTools = Awaited<ReturnType<typeof loadTools>>;

/** Loads the parser's pieces once per process; `parseWhole` is synchronous after it. */
export async function fullTools(): Promise<FullTools> {
	return await loadTools();
}

/** The header block as mailsplit reads it: one entry per header, folding kept, bytes as latin1. */
function headerLines(header: Buffer): HeaderLine[] | undefined {
	const raw = header.toString('binary').replace(/[\r\n]+$/, '');
	// No header at all: mailparser reports one empty line; left to it.
	if (!raw) return undefined;
	const lines: HeaderLine[] = [];
	const rows = raw.split(/\r?\n/);
	// An mbox or HTTP preamble, or a message that starts folded: mailparser's own business.
	if (/^(From |POST )/i.test(rows[0]) || /^[ \t]/.test(rows[0])) return undefined;
	for (const row of rows) {
		if (row.startsWith(' ') || row.startsWith('\t')) {
			const last = lines[lines.length - 1];
			last.line += `\r\n${row}`;
			// The key comes from the first colon, which may come in a continuation (or never).
			const colon = last.key ? -1 : last.line.indexOf(':');
			if (colon > 0) last.key = last.line.slice(0, colon).trim().toLowerCase();
		} else {
			const colon = row.indexOf(':');
			lines.push({ key: colon < 0 ? '' : row.slice(0, colon).trim().toLowerCase(), line: row });
		}
	}
	return lines;
}

interface Leaf {
	node: BodyPart;
	related: boolean;
	alternative: boolean;
	root: boolean;
	attachment: boolean;
	disposition: string;
}

const SIMPLE_CHARSETS = new Set(['ascii', 'usascii', 'utf8']);
const ENCODINGS = new Set(['7bit', '8bit', 'binary', 'base64', 'quoted-printable']);
const MULTIPARTS = new Set(['multipart/mixed', 'multipart/alternative', 'multipart/related']);

/**
 * The leaves in mailparser's order with its attachment rule, or undefined when the message is of a
 * shape this reader leaves to mailparser.
 */
function leavesOf(split: SplitMessage, raw: Buffer): Leaf[] | undefined {
	const leaves: Leaf[] = [];
	let ok = true;
	const walk = (node: BodyPart, related: boolean, alternative: boolean, depth: number) => {
		if (!ok) return;
		if (node.childNodes?.length) {
			if (!MULTIPARTS.has(node.type) || depth > 8 || !split.plain(node)) {
				ok = false;
				return;
			}
			for (const child of node.childNodes)
				walk(
					child,
					related || node.type === 'multipart/related',
					alternative || node.type === 'multipart/alternative',
					depth + 1,
				);
			return;
		}
		const type = node.type;
		const explicitType = split.hasContentType(node);
		const charset = (node.parameters?.charset ?? '').toLowerCase().replace(/[^a-z0-9]+/g, '');
		if (
			!split.plain(node) ||
			// mailparser splits any part with a boundary, whatever its type says.
			node.parameters?.boundary !== undefined ||
			type === '/' ||
			type.startsWith('message/') ||
			type.startsWith('multipart/') ||
			!ENCODINGS.has(node.encoding ?? '') ||
			(!explicitType && node.dispositionParameters?.filename) ||
			(node.parameters?.format ?? '').toLowerCase().trim() === 'flowed' ||
			leaves.length >= 64
		) {
			ok = false;
			return;
		}
		let disposition = node.disposition ?? '';
		const textType = type === 'text/plain' || type === 'text/html';
		if (disposition && disposition !== 'attachment' && disposition !== 'inline')
			disposition = 'attachment';
		if (!disposition) disposition = textType ? 'inline' : 'attachment';
		const attachment = !textType || disposition !== 'inline';
		if (!attachment && charset && !SIMPLE_CHARSETS.has(charset)) {
			ok = false;
			return;
		}
		leaves.push({ node, related, alternative, root: !node.part, attachment, disposition });
	};
	walk(split.structure, false, false, 0);
	return ok && raw.length > 0 ? leaves : undefined;
}

const BLANK_BEFORE_BREAK = [' \r', ' \n', '\t\r', '\t\n'];

/** Quoted-printable as libqp decodes it (trailing blanks dropped, soft breaks removed, =XX). */
function decodeQuotedPrintable(body: Buffer): Buffer {
	let text = body.toString('binary');
	// Blanks before a line end are dropped first (a latin1 string has no other line terminators).
	if (BLANK_BEFORE_BREAK.some((pair) => text.includes(pair)) || /[\t ]$/.test(text))
		text = text.replace(/[\t ]+(?=[\r\n]|$)/g, '');
	text = text.replace(/=(?:\r?\n|$)/g, '');
	if (text.includes('='))
		text = text.replace(/=([\da-fA-F]{2})/g, (_, hex: string) =>
			String.fromCharCode(parseInt(hex, 16)),
		);
	return Buffer.from(text, 'binary');
}

const EIGHT_BIT = /[\x80-\xff]/;

/**
 * Base64 as libbase64's stream decodes it. Undefined, and mailparser reads the body, where its
 * decoder reads it otherwise: padding mid-stream (its result depends on how the stream was cut into
 * chunks), and 8-bit bytes, which mailparser's libbase64 (1.3, through mailsplit) turns into base64
 * characters by clearing their high bit, where RFC 2045 and decodeBase64Text skip them.
 */
function decodeBase64(body: Buffer): Buffer | undefined {
	const text = body.toString('latin1');
	return EIGHT_BIT.test(text) ? undefined : decodeBase64Text(text, true);
}

/** Per byte: 0 not plain base64, 1 the alphabet, 2 a line break, 3 "=". */
const BASE64_KIND = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')
	BASE64_KIND[c.charCodeAt(0)] = 1;
BASE64_KIND[0x0d] = 2;
BASE64_KIND[0x0a] = 2;
BASE64_KIND[0x3d] = 3;

/**
 * The decoded size of plain base64 (the alphabet, line breaks, and "=" only at the end), counted
 * without decoding; undefined for anything else, which is decoded instead. The same number as
 * decodeBase64's length (test/unit/full.test.ts checks it on random input).
 */
export function base64Size(body: Buffer): number | undefined {
	let count = 0;
	let padded = false;
	const n = body.length;
	// One table lookup per byte: about twice the time of Node's decoding, without its 7 MB string.
	for (let i = 0; i < n; i++) {
		const kind = BASE64_KIND[body[i]];
		if (kind === 1) {
			if (padded) return undefined;
			count++;
		} else if (kind === 3) padded = true;
		else if (kind === 0) return undefined;
	}
	return Math.floor((count * 3) / 4);
}

/** Whether a CR stands without the LF of a CRLF (no mail client writes one; a sender may). */
function hasLoneCarriageReturn(raw: Buffer): boolean {
	for (let at = raw.indexOf(13); at >= 0; at = raw.indexOf(13, at + 1))
		if (raw[at + 1] !== 10) return true;
	return false;
}

const NO_BYTES = Buffer.alloc(0);

function decoded(leaf: Leaf, body: Buffer): Buffer | undefined {
	const encoding = leaf.node.encoding;
	if (encoding === 'base64') return decodeBase64(body);
	if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
	return body;
}

/** Whether html-to-text may be handed this HTML as mailparser hands it (its limits not reached). */
function convertible(html: string): boolean {
	if (html.length > MAX_HTML_LENGTH) return false;
	// Fewer than 1,000 tags cannot nest 1,000 deep (mailparser's limit); more: mailparser decides.
	let tags = 0;
	for (let i = html.indexOf('<'); i >= 0 && tags < 1000; i = html.indexOf('<', i + 1)) tags++;
	return tags < 1000;
}

/** Text that HTML encoding leaves as it is: printable ASCII and line breaks (not tabs), no " & ' < > `. */
const NEEDS_ENCODING = /[^\n\r\x20-\x7e]|["&'<>`]/;

/**
 * mailparser's textToHtml (links not detected), with its HTML encoding skipped when it would change
 * nothing and its trailing-blank rule skipped when nothing matches: the same string, faster.
 */
function textToHtml(parser: MailParserInternals, text: string): string {
	if (NEEDS_ENCODING.test(text)) return parser.textToHtml(text);
	let html = (text.includes('\r') ? text.replace(/\r?\n/g, '\n') : text).trim();
	if (BLANK_BEFORE_BREAK.some((pair) => html.includes(pair)) || /[ \t]$/.test(html))
		html = html.replace(/(^|[^ \t])[ \t]+(?=[\n\r\u2028\u2029]|$)/g, '$1');
	return `<p>${html.trim().replace(/\n\n+/g, '</p><p>').trim().replace(/\n/g, '<br/>')}</p>`;
}

/**
 * The message as mailparser's simpleParser reads it, or undefined when it is not of the common
 * shapes (the caller then runs mailparser).
 */
export function parseWhole(
	tools: FullTools,
	raw: Buffer,
	options: FullOptions,
	/** The split of `raw`, when the caller has it already. */
	split: SplitMessage = splitMessage(tools.split, raw),
): ParsedMail | undefined {
	// mailparser refuses a header block over 1 MB (a parse error): its business.
	if (split.largestHeader > 512 * 1024) return undefined;
	// A CR alone is a line break to mailparser's splitter and not to ours: its business too.
	if (hasLoneCarriageReturn(raw)) return undefined;
	const lines = headerLines(split.header);
	const leaves = lines && leavesOf(split, raw);
	if (!lines || !leaves) return undefined;
	const parser = options.full ? tools.parsers.full : tools.parsers.parsed;
	const toHtml = (text: string) => (options.full ? textToHtml(parser, text) : '');

	const texts: Array<{ leaf: Leaf; text: string }> = [];
	const attachments: ParsedMail['attachments'] = [];
	for (const leaf of leaves) {
		const body = split.body(leaf.node) ?? Buffer.alloc(0);
		// An attachment whose bytes are not wanted is measured, not decoded (a 7 MB string less).
		const measured =
			leaf.attachment && options.sizesOnly && leaf.node.encoding === 'base64'
				? base64Size(body)
				: undefined;
		const content = measured === undefined ? decoded(leaf, body) : NO_BYTES;
		if (!content) return undefined;
		if (!leaf.attachment) {
			// mailparser reads an empty text part as a line break: its business.
			if (!body.length) return undefined;
			const text = content.toString();
			texts.push({ leaf, text: text.includes('\r') ? text.replaceAll('\r\n', '\n') : text });
			continue;
		}
		const node = leaf.node;
		const filename = node.dispositionParameters?.filename ?? node.parameters?.name;
		const attachment: Record<string, unknown> = {
			type: 'attachment',
			content: measured === undefined ? content : NO_BYTES,
			contentType:
				node.type === 'application/octet-stream' && filename
					? tools.split.libmime.detectMimeType(filename) || node.type
					: node.type,
			partId: node.part ?? '1',
			release: null,
			contentDisposition: leaf.disposition,
			size: measured ?? content.length,
			checksum: '',
			headers: new Map(),
		};
		if (filename) attachment.filename = filename;
		if (node.id) {
			attachment.contentId = node.id;
			attachment.cid = node.id.trim().replace(/^<|>$/g, '').trim();
			if (leaf.related) attachment.related = true;
		}
		attachments.push(attachment as unknown as ParsedMail['attachments'][number]);
	}

	// mailparser's getTextContent, for trees without attached messages.
	const hasText = texts.some((t) => t.leaf.node.type === 'text/plain');
	const hasHtml = texts.some((t) => t.leaf.node.type === 'text/html');
	const text: string[] = [];
	const html: string[] = [];
	for (const { leaf, text: content } of texts) {
		if (!content) continue;
		if (leaf.node.type === 'text/plain') {
			text.push(content);
			if (!leaf.alternative && hasHtml) html.push(toHtml(content));
		} else {
			if ((!leaf.alternative && hasText) || (leaf.root && !hasText)) {
				if (!convertible(content)) return undefined;
				try {
					text.push(tools.htmlToText(content, { limits: { maxDepth: 1000 } }));
				} catch {
					return undefined;
				}
			}
			html.push(content);
		}
	}

	const headers = parser.processHeaders(lines);
	const mail: Record<string, unknown> = {
		attachments,
		headers,
		headerLines: lines,
	};
	if (html.length) mail.html = html.join('<br/>\n');
	if (text.length) {
		mail.text = text.join('\n');
		if (options.full) mail.textAsHtml = text.map(toHtml).join('<br/>\n');
	}
	for (const key of [
		'subject',
		'references',
		'date',
		'to',
		'from',
		'cc',
		'bcc',
		'message-id',
		'in-reply-to',
		'reply-to',
	]) {
		if (headers.has(key))
			mail[key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = headers.get(key);
	}
	return mail as unknown as ParsedMail;
}

/**
 * A whole message split into its MIME tree without reading every byte: the same body structure an
 * IMAP server reports (BODYSTRUCTURE, in imapflow's shape, part numbers included) and the same
 * envelope (ENVELOPE), with where each leaf's body lies in the message. The simple output uses it to
 * read a message in one download: the server's envelope and structure cost more to parse than the
 * whole message costs to fetch, and only the text parts are ever decoded.
 *
 * It is bounded for hostile mail as Dovecot's own parser is: at most MAX_DEPTH levels of nesting and
 * MAX_PARTS parts; what lies beyond is one opaque leaf. Boundaries are found with Buffer.indexOf, so
 * a large attachment costs a search, not a scan in JavaScript.
 */
import type Libmime from 'libmime';

import { lazy } from '../lazy';
import type { BodyPart } from './decode';

const loadLibmime = lazy(async () => {
	const module = (await import('libmime')) as unknown as { default?: typeof Libmime };
	return module.default ?? (module as unknown as typeof Libmime);
});
const loadAddressParser = lazy(() => import('nodemailer/lib/addressparser'));

/** Dovecot's limits (message-parser: 100 nested parts, 10,000 parts in all). */
export const MAX_DEPTH = 100;
export const MAX_PARTS = 10_000;

type Address = { name?: string; address?: string };

/** The envelope fields (parse.ts's MessageEnvelope reads them), as imapflow reads ENVELOPE. */
type Envelope = {
	date?: Date | string;
	subject?: string;
	from?: Address[];
	sender?: Address[];
	replyTo?: Address[];
	to?: Address[];
	cc?: Address[];
	bcc?: Address[];
	inReplyTo?: string;
	messageId?: string;
};

export interface SplitMessage {
	/** The top-level header block, without the blank line after it. */
	header: Buffer;
	/** As imapflow reads BODYSTRUCTURE: the root has no part number; its children are 1, 2, … */
	structure: BodyPart;
	/** The envelope as imapflow reads ENVELOPE (Sender and Reply-To default to From, RFC 3501). */
	envelope: Envelope;
	/** The undecoded body of a leaf of `structure`. */
	body(part: BodyPart): Buffer | undefined;
	/**
	 * Whether a multipart of `structure` is plain: closed by its close delimiter, and no delimiter
	 * line carried padding after the boundary (readers disagree on such lines).
	 */
	plain(part: BodyPart): boolean;
	/** The size of the largest header block, the message's or a part's. */
	largestHeader: number;
	/** Whether a part of `structure` had a valid Content-Type header (not a default). */
	hasContentType(part: BodyPart): boolean;
}

export interface SplitTools {
	libmime: typeof Libmime;
	parseAddresses: (typeof import('nodemailer/lib/addressparser'))['default'];
}

/** Loads what splitting needs (once per process); `splitMessage` is synchronous after it. */
export async function splitTools(): Promise<SplitTools> {
	const [libmime, addressparser] = await Promise.all([loadLibmime(), loadAddressParser()]);
	return { libmime, parseAddresses: addressparser.default };
}

/** RFC 2045: type "/" subtype, both tokens. */
const TYPE = /^[!#$%&'*+\-.^_`|~0-9a-z]+\/[!#$%&'*+\-.^_`|~0-9a-z]+$/;

const CR = 13;
const LF = 10;
const DASH = 45;

/** End of the header block at `start` (exclusive, line break kept) and where the body begins. */
export function headerBounds(
	raw: Buffer,
	start: number,
	end: number,
): { headerEnd: number; bodyStart: number } {
	if (raw[start] === LF) return { headerEnd: start, bodyStart: start + 1 };
	if (raw[start] === CR && raw[start + 1] === LF) return { headerEnd: start, bodyStart: start + 2 };
	let from = start;
	for (;;) {
		const nl = raw.indexOf(LF, from);
		if (nl < 0 || nl >= end) return { headerEnd: end, bodyStart: end };
		if (raw[nl + 1] === LF && nl + 1 < end) return { headerEnd: nl + 1, bodyStart: nl + 2 };
		if (raw[nl + 1] === CR && raw[nl + 2] === LF && nl + 2 < end)
			return { headerEnd: nl + 1, bodyStart: nl + 3 };
		from = nl + 1;
	}
}

/** Unfolded header fields by lower-case name (the first occurrence of a name wins). */
function headerFields(text: string): Map<string, string> {
	const fields = new Map<string, string>();
	const unfolded = text.replace(/\r?\n(?=[ \t])/g, '');
	for (const line of unfolded.split(/\r?\n/)) {
		const colon = line.indexOf(':');
		if (colon <= 0) continue;
		const name = line.slice(0, colon).trim().toLowerCase();
		if (!fields.has(name)) fields.set(name, line.slice(colon + 1).trim());
	}
	return fields;
}

/** Only the Content-* fields, which is all a part's header is read for. */
function contentFields(raw: Buffer, start: number, end: number): Map<string, string> {
	const text = raw.toString('utf8', start, end);
	return /content-/i.test(text) ? headerFields(text) : new Map();
}

/** Parameters as imapflow hands them on: names in lower case, values with encoded words decoded. */
function parameters(
	tools: SplitTools,
	parsed: ReturnType<typeof Libmime.parseHeaderValue>,
): Record<string, string> | undefined {
	const decoded = new Set<string>(
		(parsed as unknown as { decodedParams?: string[] }).decodedParams ?? [],
	);
	const result: Record<string, string> = {};
	let any = false;
	for (const [key, value] of Object.entries(parsed.params)) {
		if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
		result[key.toLowerCase()] = decoded.has(key) ? value : tools.libmime.decodeWords(value);
		any = true;
	}
	return any ? result : undefined;
}

interface Context {
	tools: SplitTools;
	raw: Buffer;
	parts: number;
	bodies: Map<BodyPart, [number, number]>;
	unplain: Set<BodyPart>;
	largestHeader: number;
	typed: Set<BodyPart>;
}

/** Finds the parts of a multipart body: [start, end) of each, delimiter line breaks excluded. */
function splitMultipart(
	raw: Buffer,
	start: number,
	end: number,
	boundary: string,
): { parts: Array<[number, number]>; plain: boolean } {
	const delimiter = Buffer.from(`--${boundary}`, 'utf8');
	// Searched within this part only: a boundary that never comes must not cost a scan of the rest.
	const within = raw.subarray(0, end);
	const parts: Array<[number, number]> = [];
	let partStart = -1;
	let from = start;
	let padded = false;
	for (;;) {
		const hit = within.indexOf(delimiter, from);
		if (hit < 0) break;
		from = hit + 1;
		if (hit !== start && raw[hit - 1] !== LF) continue;
		const after = hit + delimiter.length;
		const close = after + 1 < end && raw[after] === DASH && raw[after + 1] === DASH;
		// "--b" must not match the line "--b1": only padding may follow a delimiter.
		if (!close && after < end && ![CR, LF, 32, 9].includes(raw[after])) continue;
		const lineEnd = after + (close ? 2 : 0);
		if (lineEnd < end && raw[lineEnd] !== CR && raw[lineEnd] !== LF) padded = true;
		if (partStart >= 0) {
			let partEnd = hit;
			if (partEnd > partStart && raw[partEnd - 1] === LF) partEnd--;
			if (partEnd > partStart && raw[partEnd - 1] === CR) partEnd--;
			parts.push([partStart, partEnd]);
		}
		if (close) return { parts, plain: !padded };
		const nl = raw.indexOf(LF, after);
		partStart = nl < 0 || nl >= end ? end : nl + 1;
		from = partStart;
	}
	// Never closed: the last part runs to the end.
	if (partStart >= 0) parts.push([partStart, end]);
	return { parts, plain: false };
}

function entity(
	context: Context,
	start: number,
	end: number,
	path: number[],
	depth: number,
	defaultType: string,
	fields?: Map<string, string>,
): BodyPart {
	const { raw, tools } = context;
	context.parts++;
	const { headerEnd, bodyStart } = headerBounds(raw, start, end);
	context.largestHeader = Math.max(context.largestHeader, headerEnd - start);
	const header = fields ?? contentFields(raw, start, headerEnd);
	const node: BodyPart = { type: defaultType };
	if (path.length) node.part = path.join('.');
	// Header lines and no blank line after them: mailparser drops such a part, so full.ts leaves
	// the message to it.
	if (start < end && bodyStart === end && raw[end - 1] !== LF) context.unplain.add(node);

	const contentType = header.get('content-type');
	const disposition = header.get('content-disposition');
	// A quoted parameter with text glued after it (`boundary="b"x`): libmime versions read it
	// differently (mailparser's keeps the text), so full.ts leaves the message to mailparser.
	if (GLUED_AFTER_QUOTE.test(contentType ?? '') || GLUED_AFTER_QUOTE.test(disposition ?? ''))
		context.unplain.add(node);
	const parsedType = contentType ? tools.libmime.parseHeaderValue(contentType) : undefined;
	let params = parsedType ? parameters(tools, parsedType) : undefined;
	if (parsedType) {
		const typeValue = parsedType.value.trim().toLowerCase();
		// As Dovecot: a type that is not token/token is reported as "/", without its parameters.
		if (TYPE.test(typeValue)) {
			node.type = typeValue;
			context.typed.add(node);
		} else if (typeValue) {
			node.type = '/';
			params = undefined;
		}
	}
	const bounded = depth < MAX_DEPTH && context.parts < MAX_PARTS;

	if (node.type.startsWith('multipart/') && bounded) {
		node.childNodes = [];
		const childType = node.type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
		const found = params?.boundary
			? splitMultipart(raw, bodyStart, end, params.boundary)
			: { parts: [], plain: false };
		if (!found.plain) context.unplain.add(node);
		let index = 0;
		for (const [s, e] of found.parts) {
			if (context.parts >= MAX_PARTS) break;
			node.childNodes.push(entity(context, s, e, path.concat(++index), depth + 1, childType));
		}
		// No part found (no boundary, or no delimiter line): Dovecot reports one empty text part.
		if (!node.childNodes.length)
			node.childNodes.push(entity(context, end, end, path.concat(1), depth + 1, 'text/plain'));
		node.parameters = params;
	} else {
		if (node.type.startsWith('multipart/')) node.type = 'text/plain';
		if (node.type.startsWith('text/') && !params?.charset)
			params = { ...params, charset: 'us-ascii' };
		node.parameters = params;
		const id = header.get('content-id');
		if (id) node.id = id;
		node.encoding =
			(header.get('content-transfer-encoding') ?? '7bit').trim().toLowerCase() || '7bit';
		node.size = Math.max(end - bodyStart, 0);
		context.bodies.set(node, [Math.min(bodyStart, end), end]);
		if (node.type === 'message/rfc822' && bounded && !/base64|quoted/.test(node.encoding)) {
			// The encapsulated message shares its wrapper's part number, as imapflow numbers it.
			node.childNodes = [entity(context, bodyStart, end, path, depth + 1, 'text/plain')];
		}
	}
	if (!node.parameters) delete node.parameters;
	if (disposition) {
		const parsed = tools.libmime.parseHeaderValue(disposition);
		const type = parsed.value.trim().toLowerCase();
		if (type) {
			node.disposition = type;
			const dispositionParams = parameters(tools, parsed);
			if (dispositionParams) node.dispositionParameters = dispositionParams;
		}
	}
	return node;
}

const GLUED_AFTER_QUOTE = /=\s*"(?:[^"\\]|\\.)*"\s*[^;\s]/;

function decodeText(tools: SplitTools, value: string): string {
	const decoded = tools.libmime.decodeWords(value);
	return decoded.length > 2 && decoded.startsWith('"') && decoded.endsWith('"')
		? decoded.slice(1, -1)
		: decoded;
}

/** `Plain Name <local@domain>` or `local@domain`: most mail, read without the full parser. */
const PLAIN_ADDRESS =
	/^\s*(?:([A-Za-z0-9_-]+(?: [A-Za-z0-9_-]+)*)\s*)?<([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+)>\s*$|^\s*([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+)\s*$/;

/**
 * An address list as imapflow reads the server's ENVELOPE: names with encoded words decoded, a
 * group's name as an entry without address, then its members. `fast: false` always runs the parser
 * (for tests: the shortcut must agree with it).
 */
export function addressList(
	tools: SplitTools,
	value: string | undefined,
	fast = true,
): Array<{ name: string; address: string }> | undefined {
	if (!value?.trim()) return undefined;
	const plain = fast ? PLAIN_ADDRESS.exec(value) : null;
	if (plain) return [{ name: plain[1] ?? '', address: plain[2] ?? plain[3] }];
	const list: Array<{ name: string; address: string }> = [];
	const add = (entry: { name?: string; address?: string; group?: unknown[] }) => {
		const name = decodeText(tools, entry.name ?? '');
		if (Array.isArray(entry.group)) {
			if (name) list.push({ name, address: '' });
			for (const member of entry.group) add(member as typeof entry);
		} else if (name || entry.address) list.push({ name, address: entry.address ?? '' });
	};
	for (const entry of tools.parseAddresses(value)) add(entry);
	return list.length ? list : undefined;
}

/** The envelope from the top-level header, as the server builds ENVELOPE and imapflow reads it. */
function envelopeOf(tools: SplitTools, fields: Map<string, string>): Envelope {
	const envelope: Envelope = {};
	const date = fields.get('date');
	if (date) {
		const parsed = new Date(date);
		envelope.date = Number.isNaN(parsed.getTime()) ? date : parsed;
	}
	const subject = fields.get('subject');
	if (subject) envelope.subject = tools.libmime.decodeWords(subject);
	envelope.from = addressList(tools, fields.get('from'));
	envelope.sender = addressList(tools, fields.get('sender')) ?? envelope.from;
	envelope.replyTo = addressList(tools, fields.get('reply-to')) ?? envelope.from;
	envelope.to = addressList(tools, fields.get('to'));
	envelope.cc = addressList(tools, fields.get('cc'));
	envelope.bcc = addressList(tools, fields.get('bcc'));
	const inReplyTo = fields.get('in-reply-to');
	if (inReplyTo) envelope.inReplyTo = inReplyTo;
	const messageId = fields.get('message-id');
	if (messageId) envelope.messageId = messageId;
	for (const key of Object.keys(envelope) as Array<keyof Envelope>)
		if (envelope[key] === undefined) delete envelope[key];
	return envelope;
}

/** Splits a whole message (after `splitTools()` has loaded). Never throws on malformed MIME. */
export function splitMessage(tools: SplitTools, raw: Buffer): SplitMessage {
	const context: Context = {
		tools,
		raw,
		parts: 0,
		bodies: new Map(),
		unplain: new Set(),
		largestHeader: 0,
		typed: new Set(),
	};
	const { headerEnd } = headerBounds(raw, 0, raw.length);
	const fields = headerFields(raw.toString('utf8', 0, headerEnd));
	const structure = entity(context, 0, raw.length, [], 0, 'text/plain', fields);
	return {
		header: raw.subarray(0, headerEnd),
		structure,
		envelope: envelopeOf(tools, fields),
		body(part) {
			const range = context.bodies.get(part);
			return range ? raw.subarray(range[0], range[1]) : undefined;
		},
		plain: (part) => !context.unplain.has(part),
		largestHeader: context.largestHeader,
		hasContentType: (part) => context.typed.has(part),
	};
}

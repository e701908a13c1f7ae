/** Decoding text parts: transfer encodings and charsets, bounded for hostile input. */
import { TextDecoder } from 'node:util';

/** A leaf of the server's body structure (imapflow's shape, kept minimal). */
export interface BodyPart {
	part?: string;
	type: string;
	parameters?: Record<string, string>;
	id?: string;
	encoding?: string;
	size?: number;
	disposition?: string;
	dispositionParameters?: Record<string, string>;
	childNodes?: BodyPart[];
}

/**
 * The same string as one flat copy. What `replace()` or `+` builds is a rope in V8: pieces pointing
 * into the strings it came from, held by a tree of small objects. A text with CRLF line ends made
 * into LF that way holds about four times its own size (bench/README.md), and a poll's texts live
 * until n8n has its items. Reading one character makes V8 copy a rope into one flat string in place
 * and let the pieces go; a string that is flat already is only read.
 */
export function compactString<T extends string | null | undefined>(text: T): T {
	if (text) text.charCodeAt(0);
	return text;
}

/** Line ends as "\n" and no final line break, whichever path read the text. */
export function normalizeText(text: string | undefined | null): string | null {
	if (text === undefined || text === null) return null;
	let end = text.length;
	while (end > 0 && (text.charCodeAt(end - 1) === 10 || text.charCodeAt(end - 1) === 13)) end--;
	const trimmed = end === text.length ? text : text.slice(0, end);
	return compactString(trimmed.includes('\r') ? trimmed.replace(/\r\n/g, '\n') : trimmed);
}

function hexValue(byte: number): number {
	if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
	if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
	if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
	return -1;
}

/**
 * Where a part's decoded bytes are written before the decoder makes them its text: one buffer,
 * reused, since decodeTextPart is synchronous and the decoder copies what it reads. A poll decodes
 * hundreds of parts: a new buffer for each made decoding them about a fifth slower (bench/README.md).
 * A part over SCRATCH_LIMIT bytes gets its own buffer, so a sender cannot make the process keep a
 * large one.
 */
const SCRATCH_LIMIT = 1024 * 1024;
let scratch: Buffer | undefined;

/** A buffer of at least `length` bytes, valid until the next call (see SCRATCH_LIMIT). */
function scratchFor(length: number): Buffer {
	if (length > SCRATCH_LIMIT) return Buffer.allocUnsafe(length);
	if (!scratch || scratch.length < length) scratch = Buffer.allocUnsafe(Math.max(length, 65536));
	return scratch;
}

/**
 * Quoted-printable to bytes in one pass (soft line breaks removed, bad escapes kept as is), into the
 * scratch buffer. With `lineEnds`, the same pass does what normalizeLineEnds does: a CR followed by
 * an LF in the decoded bytes (written or escaped) is dropped, and so are the final CRs and LFs.
 */
function decodeQuotedPrintable(input: Buffer, lineEnds: boolean): Buffer {
	const n = input.length;
	const out = scratchFor(n);
	// The byte after which a CR is dropped: LF, or none.
	const lf = lineEnds ? 0x0a : -1;
	let o = 0;
	for (let i = 0; i < n; ) {
		const byte = input[i];
		if (byte !== 0x3d) {
			if (byte === lf && o > 0 && out[o - 1] === 0x0d) o--;
			out[o++] = byte;
			i++;
			continue;
		}
		const a = i + 1 < n ? input[i + 1] : -1;
		if (a === 0x0d && i + 2 < n && input[i + 2] === 0x0a) {
			i += 3;
			continue;
		}
		if (a === 0x0a) {
			i += 2;
			continue;
		}
		const high = hexValue(a);
		const low = i + 2 < n ? hexValue(input[i + 2]) : -1;
		if (high >= 0 && low >= 0) {
			const value = high * 16 + low;
			if (value === lf && o > 0 && out[o - 1] === 0x0d) o--;
			out[o++] = value;
			i += 3;
		} else {
			out[o++] = 0x3d;
			i++;
		}
	}
	if (lineEnds) while (o > 0 && (out[o - 1] === 10 || out[o - 1] === 13)) o--;
	return out.subarray(0, o);
}

const decoders = new Map<string, TextDecoder>();

/** Charset labels as mail spells them, to their decoder: what almost every message repeats. */
const byLabel = new Map<string, TextDecoder>();

/**
 * The most labels remembered, and the longest: senders choose labels, so the map must not grow with
 * them (the Encoding Standard's longest label, "csisolatincyrillic", has 18 characters).
 */
const LABEL_LIMIT = 64;
const LABEL_LENGTH_LIMIT = 40;

/**
 * One decoder per charset (creating them is costly); unknown charsets read as UTF-8. Cached under the
 * decoder's own encoding name, so sender-chosen labels ("utf8", "UTF-8", "x-no-such-…") cannot grow the
 * cache beyond the encodings the runtime knows. The first LABEL_LIMIT labels seen are remembered
 * too (if short), so a label seen before ("utf-8" in nearly all mail) costs a lookup, not a new
 * decoder.
 */
function decoderFor(charset: string): TextDecoder {
	const known = byLabel.get(charset);
	if (known) return known;
	let decoder: TextDecoder;
	try {
		decoder = new TextDecoder(charset);
	} catch {
		decoder = new TextDecoder('utf-8');
	}
	const cached = decoders.get(decoder.encoding) ?? decoder;
	decoders.set(cached.encoding, cached);
	if (byLabel.size < LABEL_LIMIT && charset.length <= LABEL_LENGTH_LIMIT)
		byLabel.set(charset, cached);
	return cached;
}

/** How many decoders and labels are cached (for tests: both bounded). */
export function cachedDecoderCount(): number {
	return decoders.size;
}

export function cachedLabelCount(): number {
	return byLabel.size;
}

/**
 * Base64 text as mailparser's decoder (libbase64) reads it. What is not base64 is skipped: Node
 * skips it too, except "-" and "_", which it would read as base64url, so those are taken out
 * first. Padding inside the text (segments encoded one by one, then joined) ends a segment, not
 * the body (Node alone would stop there and drop the rest of the text): each segment is decoded in
 * turn, or, with `oneSegment`, the answer is undefined.
 */
export function decodeBase64Text(text: string): Buffer;
export function decodeBase64Text(text: string, oneSegment: true): Buffer | undefined;
export function decodeBase64Text(text: string, oneSegment = false): Buffer | undefined {
	if (text.includes('-') || text.includes('_')) text = text.replace(/[-_]+/g, '');
	const padding = text.indexOf('=');
	if (padding < 0 || !/[a-zA-Z0-9+/]/.test(text.slice(padding))) return Buffer.from(text, 'base64');
	if (oneSegment) return undefined;
	// One buffer for all segments: a Buffer per segment would cost more than the text when a
	// hostile body pads every quartet.
	const output = Buffer.alloc(Math.ceil((text.length * 3) / 4));
	let length = 0;
	for (let start = 0; start < text.length; ) {
		let end = text.indexOf('=', start);
		if (end < 0) end = text.length;
		if (end > start) length += output.write(text.slice(start, end), length, 'base64');
		start = end + 1;
	}
	return Buffer.from(output.subarray(0, length));
}

/**
 * Encodings in which a CR or LF byte is always that character and nothing else is: UTF-8 (an ASCII
 * byte ends any unfinished sequence, with one U+FFFD whichever byte it is) and the single-byte
 * encodings. In these, line ends can be normalized on the bytes; in UTF-16 and the multi-byte
 * Asian encodings they are normalized on the decoded text.
 */
const LINE_ENDS_AS_BYTES =
	/^(?:utf-8|windows-\d+|iso-8859-\d+|koi8-[ru]|ibm866|macintosh|x-mac-cyrillic)$/;

/**
 * normalizeText on the bytes: no final CR or LF, and CR LF made LF. The decoded text is then final,
 * one string: made from the text, normalizeText would build a second string and a rope of its
 * pieces (about a quarter of what a Simple poll allocates, which V8's young-generation collections
 * then copy or sweep; bench/README.md).
 */
function normalizeLineEnds(bytes: Buffer): Buffer {
	let end = bytes.length;
	while (end > 0 && (bytes[end - 1] === 10 || bytes[end - 1] === 13)) end--;
	let cr = bytes.indexOf(13);
	if (cr < 0 || cr >= end) return end === bytes.length ? bytes : bytes.subarray(0, end);
	const out = scratchFor(end);
	let o = 0;
	let from = 0;
	while (cr >= 0 && cr < end) {
		if (bytes[cr + 1] === 10) {
			o += bytes.copy(out, o, from, cr);
			from = cr + 1;
		}
		cr = bytes.indexOf(13, cr + 1);
	}
	o += bytes.copy(out, o, from, end);
	return out.subarray(0, o);
}

/** Decodes one downloaded body part (transfer encoding, then charset), line ends as normalizeText. */
export function decodeTextPart(part: BodyPart, content: Buffer | undefined): string | null {
	if (!content) return null;
	const encoding = (part.encoding ?? '').toLowerCase();
	const charset = (part.parameters?.charset ?? 'utf-8').toLowerCase();
	const decoder = decoderFor(charset);
	const onBytes = LINE_ENDS_AS_BYTES.test(decoder.encoding);
	if (encoding === 'quoted-printable') {
		const bytes = decodeQuotedPrintable(content, onBytes);
		return onBytes ? decoder.decode(bytes) : normalizeText(decoder.decode(bytes));
	}
	const bytes = encoding === 'base64' ? decodeBase64Text(content.toString('latin1')) : content;
	if (onBytes) return decoder.decode(normalizeLineEnds(bytes));
	return normalizeText(decoder.decode(bytes));
}

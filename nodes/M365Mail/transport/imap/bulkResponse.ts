/**
 * The IMAP answers the bulk FETCH reader (bulk.ts) understands: an untagged FETCH with a UID and a
 * whole body, or with a size, read from its text and literals. Everything else is not ours.
 */
/** A message as the bulk FETCH returns it (imapflow's field names, for the same consumers). */
export interface BulkMessage {
	uid: number;
	flags: Set<string>;
	internalDate?: Date;
	size?: number;
	/** Absent when only sizes were asked for. */
	source?: Buffer;
	/** Sections asked for by number ('parts'), by their section in lower case ("1.1", "2.text"). */
	parts?: Map<string, Buffer>;
}

/**
 * What a bulk FETCH asks for: whole messages, only their sizes (for limits before a download), or
 * the first bytes of some sections (the text parts of large messages).
 */
export type BulkQuery = 'whole' | 'sizes' | 'parts';

export const QUERIES: Record<Exclude<BulkQuery, 'parts'>, string> = {
	whole: '(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])',
	sizes: '(UID RFC822.SIZE)',
};

/** A section number as a FETCH names it: "1", "1.2", "2.TEXT"; nothing else is sent. */
const SECTION = /^\d+(?:\.\d+)*(?:\.(?:TEXT|HEADER|MIME))?$/i;

/** The FETCH items for the first `maxLength` bytes of each section. */
export function partsQuery(sections: string[], maxLength: number): string {
	if (!sections.length || !Number.isSafeInteger(maxLength) || maxLength < 1)
		throw new Error('partsQuery: no sections or no length');
	for (const section of sections)
		if (!SECTION.test(section)) throw new Error(`partsQuery: not a section number: ${section}`);
	return `(UID ${sections.map((s) => `BODY.PEEK[${s}]<0.${maxLength}>`).join(' ')})`;
}
/** "1:5,7,9:12" from ascending UIDs. */
export function uidSet(uids: number[]): string {
	const sorted = [...new Set(uids)].sort((a, b) => a - b);
	const parts: string[] = [];
	for (let i = 0; i < sorted.length; ) {
		let j = i;
		while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
		parts.push(i === j ? String(sorted[i]) : `${sorted[i]}:${sorted[j]}`);
		i = j + 1;
	}
	return parts.join(',');
}

type Token =
	| { t: 'open' }
	| { t: 'close' }
	| { t: 'atom'; v: string }
	| { t: 'string'; v: string }
	| { t: 'literal'; v: Buffer };

/** The tokens of one response: text segments with literals between them. */
function tokenize(segments: Array<string | Buffer>): Token[] {
	const tokens: Token[] = [];
	for (const segment of segments) {
		if (typeof segment !== 'string') {
			tokens.push({ t: 'literal', v: segment });
			continue;
		}
		let i = 0;
		const s = segment;
		while (i < s.length) {
			const c = s[i];
			if (c === ' ' || c === '\r' || c === '\n') i++;
			else if (c === '(') {
				tokens.push({ t: 'open' });
				i++;
			} else if (c === ')') {
				tokens.push({ t: 'close' });
				i++;
			} else if (c === '"') {
				let v = '';
				i++;
				while (i < s.length && s[i] !== '"') {
					if (s[i] === '\\' && i + 1 < s.length) i++;
					v += s[i++];
				}
				i++;
				tokens.push({ t: 'string', v });
			} else if (c === '{' || (c === '~' && s[i + 1] === '{')) {
				// The literal's announcement: the literal itself is the next segment.
				i = s.indexOf('}', i) + 1 || s.length;
			} else {
				let j = i;
				// An atom; a section such as BODY[HEADER.FIELDS (A B)] keeps its brackets' content.
				let depth = 0;
				while (j < s.length) {
					const d = s[j];
					if (d === '[') depth++;
					else if (d === ']') depth--;
					else if (depth <= 0 && (d === ' ' || d === '(' || d === ')' || d === '\r' || d === '\n'))
						break;
					j++;
				}
				tokens.push({ t: 'atom', v: s.slice(i, j) });
				i = j;
			}
		}
	}
	return tokens;
}

const MONTHS: Record<string, number> = {
	jan: 0,
	feb: 1,
	mar: 2,
	apr: 3,
	may: 4,
	jun: 5,
	jul: 6,
	aug: 7,
	sep: 8,
	oct: 9,
	nov: 10,
	dec: 11,
};

/** INTERNALDATE: "02-Dec-2026 10:04:05 +0100" (RFC 3501 date-time). */
export function internalDateOf(text: string): Date | undefined {
	const m =
		/^\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(text);
	if (!m) return undefined;
	const month = MONTHS[m[2].toLowerCase()];
	if (month === undefined) return undefined;
	const offset = (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9]));
	const utc = Date.UTC(+m[3], month, +m[1], +m[4], +m[5], +m[6]) - offset * 60_000;
	return new Date(utc);
}

/** The bytes of a body or section: a literal, or a quoted string (read as latin1); NIL is none. */
function bytesOf(value: unknown): Buffer | undefined {
	if (Buffer.isBuffer(value)) return value;
	return typeof value === 'string' ? Buffer.from(value, 'latin1') : undefined;
}

/**
 * The message of an untagged FETCH response that answers the query (a whole body, a size, or
 * sections), or undefined for any other response (which the session's own reader is given instead).
 * `asked` may name the query by UID.
 */
export function messageOf(
	segments: Array<string | Buffer>,
	asked: BulkQuery | ((uid: number) => BulkQuery | undefined) = 'whole',
): BulkMessage | undefined {
	const head = typeof segments[0] === 'string' ? segments[0] : '';
	if (!/^\* \d+ FETCH \(/i.test(head)) return undefined;
	const tokens = tokenize(segments);
	// "*", the sequence number, "FETCH", "(": the attributes follow.
	let i = 4;
	const value = (): unknown => {
		const token = tokens[i++];
		if (!token) return undefined;
		if (token.t === 'open') {
			const list: unknown[] = [];
			while (i < tokens.length && tokens[i].t !== 'close') list.push(value());
			i++;
			return list;
		}
		if (token.t === 'close') return undefined;
		// NIL, unquoted, is no value; "NIL" in quotes is the text NIL.
		if (token.t === 'atom' && token.v.toUpperCase() === 'NIL') return null;
		return token.v;
	};
	let uid: number | undefined;
	let flags = new Set<string>();
	let internalDate: Date | undefined;
	let size: number | undefined;
	let source: Buffer | undefined;
	let parts: Map<string, Buffer> | undefined;
	while (i < tokens.length && tokens[i].t !== 'close') {
		const key = tokens[i++];
		if (key.t !== 'atom') return undefined;
		const v = value();
		// A section's bytes ("BODY[1.2]<0>"): kept by section; NIL is no bytes, as imapflow reads it.
		const section = /^BODY\[(\d[^\]]*)\](?:<\d+>)?$/i.exec(key.v)?.[1];
		if (section !== undefined) {
			const bytes = bytesOf(v);
			if (bytes) (parts ??= new Map()).set(section.toLowerCase(), bytes);
			continue;
		}
		switch (key.v.toUpperCase()) {
			case 'UID':
				uid = Number(v);
				break;
			case 'FLAGS':
				if (Array.isArray(v)) flags = new Set(v.map(String));
				break;
			case 'INTERNALDATE':
				if (typeof v === 'string') internalDate = internalDateOf(v);
				break;
			case 'RFC822.SIZE':
				size = Number(v);
				break;
			case 'BODY[]':
				// A body of NIL is no body: the message is left to imapflow's reader, which skips it as
				// the imapflow path does.
				source = bytesOf(v);
				break;
		}
	}
	if (uid === undefined || !Number.isSafeInteger(uid) || uid < 1) return undefined;
	// What this UID was asked for (a pipelined download asks different UIDs for different things).
	const query = typeof asked === 'function' ? asked(uid) : asked;
	if (query === undefined) return undefined;
	if (query === 'whole' && source === undefined) return undefined;
	if (query === 'sizes' && !Number.isSafeInteger(size)) return undefined;
	// 'parts': a FETCH with the UID and no section is an update (flags), not an answer.
	if (query === 'parts' && parts === undefined && !/\bBODY\[\d/i.test(head)) return undefined;
	return {
		uid,
		flags,
		internalDate,
		size: Number.isSafeInteger(size) ? size : undefined,
		source,
		...(query === 'parts' ? { parts: parts ?? new Map() } : {}),
	};
}

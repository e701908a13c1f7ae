import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { simpleParser } from 'mailparser';

import { customHeaders } from '../../nodes/M365Mail/actions/message/helpers';
import type { MessageMetadata } from '../../nodes/M365Mail/transport/imap/messages';
import { matchesFilters } from '../../nodes/M365Mail/transport/imap/search';
import { decodeTextPart, normalizeText } from '../../nodes/M365Mail/transport/mime/decode';
import { composeMessage } from '../../nodes/M365Mail/transport/mime/compose';
import {
	importanceOf,
	parseRawMessage,
	pickHeaders,
	summarizeStructure,
	type MessageEnvelope,
} from '../../nodes/M365Mail/transport/mime/parse';
import {
	decodeImapMessageId,
	encodeImapMessageId,
	splitList,
} from '../../nodes/M365Mail/transport/types';

const envelope: MessageEnvelope = {
	id: 'imap:7:1:Inbox',
	mailbox: 'alice@example.test',
	folder: 'Inbox',
	uidValidity: '7',
	uid: 1,
	flags: ['\\Seen'],
	size: 10,
	subject: 'From the envelope',
	from: [{ name: 'Bob', address: 'Bob@Example.test' }],
};

describe('text parts are decoded as mailparser would', () => {
	/**
	 * Quoted-printable as a regular expression read left to right: "=" before a line break is a soft
	 * break, "=" before two hex digits is that byte, any other "=" stays.
	 */
	const quotedPrintable = (bytes: Buffer) =>
		Buffer.from(
			bytes
				.toString('latin1')
				.replace(/=(\r\n|\n|[0-9A-Fa-f]{2})/g, (_, escape: string) =>
					escape.endsWith('\n') ? '' : String.fromCharCode(parseInt(escape, 16)),
				),
			'latin1',
		);

	it('quoted-printable with soft line breaks and UTF-8 bytes', () => {
		const part = {
			type: 'text/plain',
			encoding: 'quoted-printable',
			parameters: { charset: 'utf-8' },
		};
		const encoded = Buffer.from('Gr=C3=BC=C3=9Fe, this line is so=\r\n long it wraps =3D ok\r\n');
		assert.equal(decodeTextPart(part, encoded), 'Grüße, this line is so long it wraps = ok');
	});

	it('a broken escape is kept as written', () => {
		const part = { type: 'text/plain', encoding: 'quoted-printable' };
		assert.equal(decodeTextPart(part, Buffer.from('100=% sure =ZZ')), '100=% sure =ZZ');
	});

	it('quoted-printable agrees with a reference decoder on random input', () => {
		const alphabet = ['=', '=', '\r', '\n', 'A', 'f', '3', 'x', ' ', '\u00e9'];
		let seed = 7;
		const random = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
		const part = {
			type: 'text/plain',
			encoding: 'quoted-printable',
			parameters: { charset: 'latin1' },
		};
		for (let n = 0; n < 2000; n++) {
			const length = Math.floor(random() * 40);
			const text = Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]);
			const input = Buffer.from(text.join(''), 'latin1');
			const expected = normalizeText(quotedPrintable(input).toString('latin1'));
			assert.equal(decodeTextPart(part, input), expected, JSON.stringify(text.join('')));
		}
	});

	it('parts of any size decode whole, one after another (the decoder reuses one buffer up to 1 MB)', () => {
		// A buffer too small for a part would drop what does not fit without an error, and one
		// reused too early would mix a part with the one before: sizes below, at and above 64 KB
		// (the buffer's first size) and 1 MB (above which a part gets its own), small ones between.
		const part = {
			type: 'text/plain',
			encoding: 'quoted-printable',
			parameters: { charset: 'utf-8' },
		};
		const line = 'Gr=C3=BC=C3=9Fe aus K=C3=B6ln, this line wraps here=\r\n and ends =3D here\r\n';
		const decodedLine = 'Grüße aus Köln, this line wraps here and ends = here\n';
		for (const lines of [3, 900, 1000, 1, 12_000, 2, 14_000, 40_000, 5, 900]) {
			const encoded = Buffer.from(line.repeat(lines));
			const expected = decodedLine.repeat(lines).slice(0, -1);
			const text = decodeTextPart(part, encoded);
			assert.equal(text?.length, expected.length, `${encoded.length} bytes`);
			assert.equal(text, expected, `${encoded.length} bytes`);
		}
	});

	it('base64 in ISO-8859-1, and an unknown charset read as UTF-8', () => {
		const latin = { type: 'text/plain', encoding: 'base64', parameters: { charset: 'iso-8859-1' } };
		assert.equal(
			decodeTextPart(latin, Buffer.from(Buffer.from([0x63, 0x61, 0x66, 0xe9]).toString('base64'))),
			'café',
		);
		const unknown = {
			type: 'text/plain',
			encoding: '7bit',
			parameters: { charset: 'x-unknown-42' },
		};
		assert.equal(decodeTextPart(unknown, Buffer.from('plain')), 'plain');
	});

	it('base64 in segments, and with characters that are not base64, as mailparser reads it', async () => {
		// The simple output decodes text parts itself: Node alone stops at the first "=" (the rest
		// of the text was lost) and reads "-" and "_" as base64url.
		const part = { type: 'text/plain', encoding: 'base64', parameters: { charset: 'utf-8' } };
		const cases = [
			['aGVsbG8=\r\nIHdvcmxk', 'hello world'],
			['aGk=aGk=aGk=', 'hihihi'],
			['aGVs-bG8g_d29y\x80bGQ=', 'hello world'],
			['aGVsbG8g\r\nd29ybGQ=\r\n', 'hello world'],
		];
		for (const [encoded, text] of cases) {
			const body = Buffer.from(encoded, 'latin1');
			assert.equal(decodeTextPart(part, body), text, encoded);
			// mailparser reads the same text from the same body.
			const raw = Buffer.concat([
				Buffer.from(
					'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n',
				),
				body,
			]);
			assert.equal((await simpleParser(raw)).text?.replace(/\n$/, ''), text, encoded);
		}
	});

	it('line ends normalized on the bytes (UTF-8, single-byte charsets) give the text normalized after decoding', () => {
		// decodeTextPart makes CR LF into LF before decoding where a CR or LF byte is only ever that
		// character; elsewhere (UTF-16, the multi-byte Asian charsets) after. Either way the text must
		// be normalizeText of the decoded bytes: invalid UTF-8 before a line end, a CR alone, CR CR LF,
		// a byte-order mark, and escaped line ends in quoted-printable included.
		const alphabet = [
			[0x0d],
			[0x0d],
			[0x0a],
			[0x0a],
			[0x61],
			[0xc3],
			[0xa9],
			[0xe2, 0x82],
			[0xef, 0xbb, 0xbf],
			[0x80],
			[0xff],
			[0x00],
			[0x1b, 0x24, 0x42],
			Buffer.from('=0D=0A'),
			Buffer.from('=0D'),
			Buffer.from('=\r\n'),
		];
		const charsets = [
			'utf-8',
			'iso-8859-1',
			'windows-1251',
			'koi8-r',
			'shift_jis',
			'gbk',
			'big5',
			'euc-kr',
			'iso-2022-jp',
			'utf-16le',
			'utf-16be',
		];
		let seed = 11;
		const random = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
		for (let n = 0; n < 3000; n++) {
			const charset = charsets[n % charsets.length];
			const encoding = n % 2 ? 'quoted-printable' : '8bit';
			const length = Math.floor(random() * 30);
			const input = Buffer.concat(
				Array.from({ length }, () => Buffer.from(alphabet[Math.floor(random() * alphabet.length)])),
			);
			const bytes = encoding === 'quoted-printable' ? quotedPrintable(input) : input;
			const expected = normalizeText(new TextDecoder(charset).decode(bytes));
			const part = { type: 'text/plain', encoding, parameters: { charset } };
			assert.equal(
				decodeTextPart(part, input),
				expected,
				`${charset} ${encoding} ${input.toString('hex')}`,
			);
		}
	});

	it('line ends become \\n and the final line break goes, on both paths', async () => {
		assert.equal(normalizeText('a\r\nb\r\n\r\n'), 'a\nb');
		const parsed = await parseRawMessage(
			Buffer.from('Subject: x\r\n\r\nline 1\r\nline 2\r\n'),
			envelope,
		);
		assert.equal(parsed.message.text, 'line 1\nline 2');
	});
});

describe('the texts a poll holds until n8n has them', () => {
	// A text turned from CRLF into LF by replace() is, in V8, a rope over the string it came from:
	// about four times its own size. A poll holds hundreds of them, so each must be one flat copy.
	setFlagsFromString('--expose-gc');
	const gc = runInNewContext('gc') as () => void;
	const lines = (seed: number) =>
		Array.from({ length: 400 }, (_, i) => `line ${seed}-${i} of a message body`).join('\r\n') +
		'\r\n';

	/** Heap held per character by 300 results of `make`, which says what it keeps and how many characters. */
	async function bytesPerChar(
		make: (seed: number) => Promise<{ keep: unknown; chars: number }>,
	): Promise<number> {
		await make(-1); // modules loaded on first use are not what is measured
		gc();
		const before = process.memoryUsage().heapUsed;
		const kept: unknown[] = [];
		let chars = 0;
		for (let seed = 0; seed < 300; seed++) {
			const made = await make(seed);
			kept.push(made.keep);
			chars += made.chars;
		}
		gc();
		const held = process.memoryUsage().heapUsed - before;
		assert.equal(kept.length, 300);
		assert.ok(chars > 3_000_000, `${chars} characters kept`);
		return held / chars;
	}
	const text = (value: string | null) => ({ keep: value, chars: value?.length ?? 0 });

	it('a decoded text part holds about one byte per character', async () => {
		const part = { type: 'text/plain', parameters: { charset: 'utf-8' } };
		const ratio = await bytesPerChar(async (seed) =>
			text(decodeTextPart(part, Buffer.from(lines(seed)))),
		);
		assert.ok(ratio < 1.5, `${ratio.toFixed(2)} bytes of heap per character`);
	});

	it('the full output holds its text and its HTML rendering compactly', async () => {
		const ratio = await bytesPerChar(async (seed) => {
			const raw = Buffer.from(
				`Subject: ${seed}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n${lines(seed)}`,
			);
			const parsed = await parseRawMessage(raw, envelope, { full: true });
			const kept = [parsed.message.text ?? '', String(parsed.full?.textAsHtml ?? '')];
			return { keep: kept, chars: kept[0].length + kept[1].length };
		});
		// The message's other fields (headers, addresses) are a few hundred bytes each.
		assert.ok(ratio < 1.5, `${ratio.toFixed(2)} bytes of heap per character`);
	});
});

describe('body structure summary (no download)', () => {
	it('finds text and HTML bodies, file attachments and inline images', () => {
		const summary = summarizeStructure({
			type: 'multipart/mixed',
			childNodes: [
				{
					type: 'multipart/related',
					part: '1',
					childNodes: [
						{
							type: 'multipart/alternative',
							part: '1.1',
							childNodes: [
								{ type: 'text/plain', part: '1.1.1' },
								{ type: 'text/html', part: '1.1.2' },
							],
						},
						{ type: 'image/png', part: '1.2', id: '<logo@x>', disposition: 'inline', size: 40 },
					],
				},
				{
					type: 'application/pdf',
					part: '2',
					disposition: 'attachment',
					dispositionParameters: { filename: 'a.pdf' },
					size: 99,
				},
				{
					type: 'text/plain',
					part: '3',
					disposition: 'attachment',
					dispositionParameters: { filename: 'notes.txt' },
				},
			],
		});
		assert.equal(summary.textPart?.part, '1.1.1');
		assert.equal(summary.htmlPart?.part, '1.1.2');
		assert.deepEqual(
			summary.attachments.map((a) => [a.filename, a.inline]),
			[
				['attachment-1', true],
				['a.pdf', false],
				['notes.txt', false],
			],
		);
	});
});

describe('headers of interest', () => {
	it('unfolds continuation lines and keeps the first value', () => {
		const headers = pickHeaders(
			'List-Id: Ops\r\n <ops.example.test>\r\nImportance: high\r\nImportance: low\r\nX-Other: no\r\n',
		);
		assert.deepEqual(headers, { 'list-id': 'Ops <ops.example.test>', importance: 'high' });
	});

	it('importance from Importance, Priority or X-Priority', () => {
		assert.equal(importanceOf({ importance: 'High' }), 'high');
		assert.equal(importanceOf({ priority: 'non-urgent' }), 'low');
		assert.equal(importanceOf({ 'x-priority': '2' }), 'high');
		assert.equal(importanceOf({ 'x-priority': '5 (Lowest)' }), 'low');
		assert.equal(importanceOf({}), 'normal');
	});
});

describe('malformed MIME', () => {
	it('still yields a message from the envelope, with parseError set', async () => {
		const bomb = Buffer.from(`Subject: bomb\r\nX-Huge: ${'a'.repeat(3 * 1024 * 1024)}\r\n\r\nbody`);
		const parsed = await parseRawMessage(bomb, envelope);
		assert.match(String(parsed.message.parseError), /header/i);
		assert.equal(parsed.message.subject, 'From the envelope');
		assert.deepEqual(parsed.message.from, { name: 'Bob', address: 'bob@example.test' });
		assert.equal(parsed.message.isRead, true);
	});
});

describe('composing', () => {
	it('keeps Bcc out of the headers and in the envelope; writes Outlook’s importance headers', async () => {
		const composed = await composeMessage({
			from: 'alice@example.test',
			to: ['bob@example.test'],
			bcc: ['secret@example.test'],
			subject: 'Hi',
			text: 'x',
			importance: 'high',
			attachments: [{ filename: 'a.txt', content: Buffer.from('A') }],
		});
		assert.deepEqual(composed.envelope.to.sort(), ['bob@example.test', 'secret@example.test']);
		const parsed = await simpleParser(composed.raw);
		assert.equal(parsed.headers.get('bcc'), undefined);
		assert.ok(parsed.headerLines.some((h) => /^Importance: High/.test(h.line)));
		assert.equal(parsed.attachments[0].content.toString(), 'A');
		assert.equal(parsed.messageId, composed.messageId);
	});

	it('refuses custom headers the composer owns', () => {
		assert.throws(() => customHeaders({ header: [{ name: 'Bcc', value: 'x' }] }), /cannot be set/);
		assert.throws(
			() => customHeaders({ header: [{ name: 'Bad Name', value: 'x' }] }),
			/cannot be set/,
		);
		assert.deepEqual(customHeaders({ header: [{ name: 'X-Ticket', value: '1' }] }), {
			'X-Ticket': '1',
		});
	});
});

describe('message ids and lists', () => {
	it('round-trips a folder path with colons and slashes', () => {
		const location = { folder: 'Inbox/a:b/c', uidValidity: '1700000000', uid: 42 };
		assert.deepEqual(decodeImapMessageId(encodeImapMessageId(location)), location);
	});

	it('refuses a Graph id with a fix', () => {
		assert.throws(() => decodeImapMessageId('AAMkAGI2TG93AAA='), /not a message ID/);
	});

	it('splits address lists on ";" and ","', () => {
		assert.deepEqual(splitList('a@x.test; b@y.test,, c'), ['a@x.test', 'b@y.test', 'c']);
	});
});

describe('filters: Power Automate semantics', () => {
	const message = (
		overrides: Partial<MessageEnvelope> = {},
		headers: Record<string, string> = {},
	): MessageMetadata => ({
		uid: 1,
		size: 1,
		headers,
		envelope: {
			...envelope,
			flags: [],
			from: [{ name: 'Billing', address: 'billing@vendor.test' }],
			to: [{ address: 'alice@example.test' }],
			cc: [{ address: 'finance@example.test' }],
			subject: 'Invoice 7',
			...overrides,
		},
		structure: { type: 'text/plain' },
	});

	it('any entry of a list may match; every filter must match', () => {
		assert.ok(matchesFilters(message(), { from: ['nobody@', 'vendor.test'] }));
		assert.ok(!matchesFilters(message(), { from: ['nobody@'] }));
		assert.ok(matchesFilters(message(), { toOrCc: ['finance@'] }));
		assert.ok(!matchesFilters(message(), { to: ['finance@'] }));
		assert.ok(!matchesFilters(message(), { from: ['vendor'], subjectContains: 'receipt' }));
		assert.ok(matchesFilters(message(), { subjectContains: 'INVOICE' }));
	});

	it('importance, attachments and unread', () => {
		assert.ok(matchesFilters(message({}, { importance: 'high' }), { importance: 'high' }));
		assert.ok(!matchesFilters(message(), { importance: 'high' }));
		assert.ok(!matchesFilters(message(), { hasAttachments: true }));
		assert.ok(!matchesFilters(message({ flags: ['\\Seen'] }), { unreadOnly: true }));
	});
});

describe('reading address lists from a whole message', () => {
	it('the shortcut for plain addresses agrees with the full parser', async () => {
		const { addressList, splitTools } = await import('../../nodes/M365Mail/transport/mime/split');
		const tools = await splitTools();
		const inputs = [
			'alice@example.test',
			'  alice@example.test  ',
			'<alice@example.test>',
			'Sender 12 <sender12@example.test>',
			'Sender_12-x   <s.x+tag@sub.example.test>',
			'Alice<alice@example.test>',
			'"Doe, John" <john@example.test>',
			'=?utf-8?B?w4Rtw6Rs?= <a@example.test>',
			'a@example.test, b@example.test',
			'Team: a@example.test;',
			'J. Doe <j@example.test>',
			'Name (comment) <c@example.test>',
		];
		for (const input of inputs)
			assert.deepEqual(addressList(tools, input), addressList(tools, input, false), input);
	});
});

/**
 * The whole-message reader of the parsed and full outputs (transport/mime/full.ts) gives what
 * mailparser gives, item for item, over the hostile corpus, the well-formed corpus and 300 varied
 * messages, with and without the full output; and it reads most common mail itself (a reader that
 * always handed over to mailparser would pass the first test and fail the second).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { base64Size, fullTools, parseWhole } from '../../nodes/M365Mail/transport/mime/full';
import { parseRawMessage, type MessageEnvelope } from '../../nodes/M365Mail/transport/mime/parse';
import { hostileCorpus } from '../fixtures/hostile';
import { mutate, seeded } from '../fixtures/mutate';
import { variedCorpus, wellFormedCorpus } from '../fixtures/wellformed';

const envelope: MessageEnvelope = {
	id: 'imap:7:1:Inbox',
	mailbox: 'alice@example.test',
	folder: 'Inbox',
	flags: [],
	size: 10,
};

describe('reading whole messages as mailparser does', () => {
	let corpus: Array<{ subject: string; raw: Buffer }> = [];
	let varied: Array<{ subject: string; raw: Buffer }> = [];
	before(async () => {
		varied = await variedCorpus(300);
		corpus = [...hostileCorpus(), ...(await wellFormedCorpus()), ...varied];
	});

	for (const full of [true, false]) {
		it(`the same item as mailparser's (${full ? 'full' : 'parsed'} output)`, async () => {
			const differences: string[] = [];
			for (const { subject, raw } of corpus) {
				const ours = await parseRawMessage(raw, envelope, { full });
				const theirs = await parseRawMessage(raw, envelope, { full, reader: 'mailparser' });
				try {
					assert.deepEqual(ours, theirs);
				} catch (error) {
					differences.push(`${subject}: ${(error as Error).message.slice(0, 1500)}`);
				}
			}
			assert.deepEqual(differences, []);
		});
	}

	it('decodes random quoted-printable and base64 bodies as mailparser does', async () => {
		let seed = 5;
		const random = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
		const pick = (alphabet: string[], n: number) =>
			Array.from({ length: n }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
		const qp = ['=', '=', ' ', '\t', '\r\n', '\n', 'A', 'f', '3', 'D', 'x', '\u00e9', '=C3=A9'];
		const b64 = ['QUJD', 'ZA==', 'YQ', '\r\n', ' ', '%', '=', 'w6k=', 'Zm9v'];
		const differences: string[] = [];
		let read = 0;
		const tools = await fullTools();
		for (let n = 0; n < 400; n++) {
			const encoding = n % 2 ? 'quoted-printable' : 'base64';
			const body = pick(encoding === 'base64' ? b64 : qp, Math.floor(random() * 60));
			const raw = Buffer.from(
				`From: a@example.test\r\nSubject: decode ${n}\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\n${body}\r\n--x\r\nContent-Type: application/octet-stream; name=a.bin\r\nContent-Transfer-Encoding: ${encoding}\r\n\r\n${body}\r\n--x--\r\n`,
				'latin1',
			);
			if (parseWhole(tools, raw, { full: true })) read++;
			const ours = await parseRawMessage(raw, envelope, { full: true });
			const theirs = await parseRawMessage(raw, envelope, { full: true, reader: 'mailparser' });
			try {
				assert.deepEqual(ours, theirs);
			} catch {
				differences.push(`${encoding} ${JSON.stringify(body)}`);
			}
		}
		assert.deepEqual(differences, []);
		// Many random bodies are of shapes left to mailparser (padding mid-stream, empty text).
		assert.ok(read >= 150, `${read} of 400 read without mailparser`);
	});

	it('measures the attachments a poll will drop instead of decoding them: the same item', async () => {
		const differences: string[] = [];
		let measured = 0;
		for (const { subject, raw } of corpus) {
			for (const full of [true, false]) {
				const decoded = await parseRawMessage(raw, envelope, { full });
				const sized = await parseRawMessage(raw, envelope, { full, attachmentContent: false });
				measured += sized.attachments.filter((a) => a.size > 0 && !a.content.length).length;
				try {
					assert.deepEqual(sized.message, decoded.message);
					assert.deepEqual(sized.full, decoded.full);
					assert.deepEqual(
						sized.attachments.map((a) => a.size),
						decoded.attachments.map((a) => a.size),
					);
				} catch (error) {
					differences.push(`${subject}: ${(error as Error).message.slice(0, 800)}`);
				}
			}
		}
		assert.deepEqual(differences, []);
		assert.ok(measured > 20, `${measured} attachments measured, not decoded`);
	});

	it('counts the decoded size of plain base64 as decoding gives it', () => {
		let seed = 11;
		const random = () => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
		const pieces = ['QUJD', 'ZA==', 'YQ', 'Y', 'w6k=', 'Zm9v', '+/+/', '\r\n', '\n', '=', '-', ' '];
		let counted = 0;
		for (let n = 0; n < 2000; n++) {
			const text = Array.from(
				{ length: Math.floor(random() * 30) },
				() => pieces[Math.floor(random() * pieces.length)],
			).join('');
			const size = base64Size(Buffer.from(text, 'latin1'));
			if (size === undefined) continue;
			counted++;
			assert.equal(size, Buffer.from(text, 'base64').length, JSON.stringify(text));
		}
		assert.ok(counted > 200, `${counted} plain bodies counted`);
		// Anything else is decoded, not counted.
		assert.equal(base64Size(Buffer.from('QUJD=QUJD')), undefined);
		assert.equal(base64Size(Buffer.from('QU JD')), undefined);
		assert.equal(base64Size(Buffer.from('QU-D')), undefined);
	});

	it("the same item as mailparser's on broken mail (1,000 messages broken at random)", async () => {
		// Anything the reader takes for a common shape must read as mailparser reads it; the rest
		// must go to mailparser. Found this way: "-" in base64 read as base64url, 8-bit bytes in
		// base64, a CR alone, a part without the blank line after its header, text after a quoted
		// parameter, a boundary on a part that is not multipart, a folded line without a colon.
		const tools = await fullTools();
		// The corpora without their few large messages (the cost of mailparser's reading).
		const base = [...hostileCorpus(), ...(await wellFormedCorpus()), ...varied].filter(
			(m) => m.raw.length < 64 * 1024,
		);
		// A message without a usable Date gets the time of reading: one clock, compared as one.
		const now = (key: string, value: unknown) =>
			key === 'date' &&
			typeof value === 'string' &&
			Math.abs(Date.parse(value) - Date.now()) < 60_000
				? 'now'
				: value;
		const differences: string[] = [];
		let ours = 0;
		let messages = 0;
		for (let seed = 1; messages < 1000; seed++) {
			const random = seeded(seed);
			for (const { subject, raw } of base.slice(0, 1000 - messages)) {
				const broken = mutate(raw, random);
				messages++;
				if (parseWhole(tools, broken, { full: true })) ours++;
				for (const full of [true, false]) {
					const mine = await parseRawMessage(broken, envelope, { full });
					const theirs = await parseRawMessage(broken, envelope, { full, reader: 'mailparser' });
					const a = JSON.stringify(mine, now);
					const b = JSON.stringify(theirs, now);
					if (a !== b) differences.push(`seed ${seed}, ${subject} (${full ? 'full' : 'parsed'})`);
				}
			}
		}
		assert.deepEqual(differences, []);
		assert.equal(messages, 1000);
		// Most broken mail is still of a common shape, read here (not all handed to mailparser).
		assert.ok(ours > 500, `${ours} of 1000 read by this reader`);
	});

	it("the same item as mailparser's on each broken shape found that way", async () => {
		const head =
			'From: a@example.test\r\nTo: b@example.test\r\nSubject: broken\r\nMIME-Version: 1.0\r\n';
		const part = (type: string, body: string, more = '') =>
			`--b1\r\nContent-Type: ${type}\r\n${more}\r\n${body}\r\n`;
		const mixed = (type: string, parts: string) =>
			Buffer.from(`${head}Content-Type: ${type}\r\n\r\n${parts}--b1--\r\n`, 'latin1');
		const file = (name: string, base64: string) =>
			part(
				'application/octet-stream',
				base64,
				`Content-Disposition: attachment; filename="${name}"\r\nContent-Transfer-Encoding: base64\r\n`,
			);
		// A text part, then what is broken, in a multipart of the given type.
		const after = (rest: string, type = 'multipart/mixed; boundary="b1"') =>
			mixed(type, part('text/plain', 'hi') + rest);
		const pdfWithoutBlankLine =
			'--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="x.pdf"\r\n';
		const payload = file('a.bin', 'cGF5bG9hZA==');
		const shapes: Array<[string, Buffer]> = [
			['"-" in base64', after(file('a.bin', 'cGF5-bG9hZA=='))],
			['8-bit byte in base64', after(file('a.bin', 'cGF5bG\xe99hZA=='))],
			['a CR alone', after('--b1\rtext/plain\r\n\r\nmore\r\n')],
			['a part without the blank line after its header', after(pdfWithoutBlankLine + payload)],
			['text after a quoted boundary', after(payload, 'multipart/mixed; boundary="b1"x')],
			['text after a quoted file name', after(file('a.bin" b=c', 'cGF5bG9hZA=='))],
			['a boundary on a part that is not multipart', after(payload, 'text/rt; boundary="b1"')],
			[
				'a folded header line without a colon',
				Buffer.from(`${head}Content-Type\r\n text/plain\r\n\r\nhi\r\n`, 'latin1'),
			],
		];
		const differences: string[] = [];
		for (const [name, raw] of shapes)
			for (const full of [true, false]) {
				const mine = await parseRawMessage(raw, envelope, { full });
				const theirs = await parseRawMessage(raw, envelope, { full, reader: 'mailparser' });
				try {
					assert.deepEqual(mine, theirs);
				} catch (error) {
					differences.push(
						`${name} (${full ? 'full' : 'parsed'}): ${(error as Error).message.slice(0, 600)}`,
					);
				}
			}
		assert.deepEqual(differences, []);
	});

	it('reads the common shapes itself', async () => {
		const tools = await fullTools();
		const read = varied.filter((m) => parseWhole(tools, m.raw, { full: true }));
		assert.ok(read.length >= varied.length * 0.9, `${read.length} of ${varied.length}`);
	});
});

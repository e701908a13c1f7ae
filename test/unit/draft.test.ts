import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { simpleParser } from 'mailparser';

import { composeMessage } from '../../nodes/M365Mail/transport/mime/compose';
import { draftToSend } from '../../nodes/M365Mail/transport/mime/draft';

const NOW = new Date('2026-12-06T13:14:15Z');

/** The header block of MIME as text, and the bytes after it. */
function parts(raw: Buffer): { header: string; rest: Buffer } {
	const text = raw.toString('latin1');
	const end = text.search(/\r?\n\r?\n/);
	return {
		header: text.slice(0, end),
		rest: raw.subarray(Buffer.byteLength(text.slice(0, end), 'latin1')),
	};
}

describe('a saved draft made ready to send', () => {
	it('a draft as Create Draft saves it: Bcc out of the headers and into the recipients, dated now, the rest byte for byte', async () => {
		const composed = await composeMessage(
			{
				from: '"Alice A." <alice@example.test>',
				to: ['"Doe, John" <John@Example.test>', 'bob@example.test'],
				cc: ['carol@example.test'],
				bcc: ['"Hidden Person" <hidden@example.test>', 'bob@example.test'],
				subject: 'Überprüfung – Q4',
				text: 'Bonjour, ça va ?',
				attachments: [{ filename: 'r.csv', content: Buffer.from('a,b\n') }],
			},
			{ keepBcc: true },
		);
		assert.match(composed.raw.toString(), /^Bcc:/m, 'the saved draft has its Bcc');
		const draft = await draftToSend(composed.raw, NOW);
		assert.deepEqual(draft.to, ['john@example.test', 'bob@example.test']);
		assert.deepEqual(draft.cc, ['carol@example.test']);
		assert.deepEqual(draft.bcc, ['hidden@example.test', 'bob@example.test']);
		assert.deepEqual(draft.recipients, [
			'john@example.test',
			'bob@example.test',
			'carol@example.test',
			'hidden@example.test',
		]);
		assert.equal(draft.subject, 'Überprüfung – Q4');
		assert.equal(draft.messageId, composed.messageId);
		const sent = parts(draft.raw);
		assert.doesNotMatch(sent.header, /^bcc:/im);
		assert.doesNotMatch(sent.header, /hidden/i);
		assert.equal(sent.header.match(/^Date:/gm)?.length, 1);
		assert.match(sent.header, /^Date: Sun, 06 Dec 2026 13:14:15 \+0000\r$/m);
		const saved = parts(composed.raw);
		assert.ok(sent.rest.equals(saved.rest), 'the body and attachments are the saved bytes');
		const savedOthers = saved.header.split('\r\n').filter((l) => !/^(Bcc|Date):/.test(l));
		const sentOthers = sent.header.split('\r\n').filter((l) => !/^Date:/.test(l));
		assert.deepEqual(sentOthers, savedOthers, 'every other header line as saved, in order');
		const parsed = await simpleParser(draft.raw);
		assert.equal(parsed.bcc, undefined);
		assert.equal(parsed.text?.trim(), 'Bonjour, ça va ?');
		assert.equal(parsed.date?.toISOString(), NOW.toISOString());
	});

	it('hostile or odd headers: folded and repeated Bcc, lower case, LF line ends, groups, no Date, 8-bit bytes kept', async () => {
		const raw = Buffer.concat([
			Buffer.from(
				[
					'From: alice@example.test',
					'To: Team: one@example.test, two@example.test;',
					'bcc: secret1@example.test,',
					'\tsecret2@example.test',
					'Subject: =?UTF-8?B?w5xiZXI=?=',
					'X-Note: caf',
				].join('\n'),
				'latin1',
			),
			Buffer.from('é', 'utf8'),
			Buffer.from(
				[
					'',
					'To: three@example.test',
					'BCC: secret3@example.test',
					'',
					'Body line',
					'Bcc: not a header',
					'',
				].join('\n'),
				'latin1',
			),
		]);
		const draft = await draftToSend(raw, NOW);
		assert.deepEqual(draft.to, ['one@example.test', 'two@example.test', 'three@example.test']);
		assert.deepEqual(draft.bcc, [
			'secret1@example.test',
			'secret2@example.test',
			'secret3@example.test',
		]);
		assert.equal(draft.subject, 'Über');
		const text = draft.raw.toString('latin1');
		assert.doesNotMatch(text.slice(0, text.indexOf('\n\n')), /secret|bcc/i);
		assert.ok(text.startsWith('Date: Sun, 06 Dec 2026 13:14:15 +0000\nFrom: alice@example.test\n'));
		assert.ok(draft.raw.includes(Buffer.from('X-Note: café', 'utf8')), '8-bit header bytes kept');
		assert.ok(text.endsWith('\n\nBody line\nBcc: not a header\n'), 'the body is not touched');
	});

	it('a draft with no recipient at all has none to send to; a message with no header block still parses', async () => {
		const none = await draftToSend(Buffer.from('Subject: x\r\n\r\nbody'), NOW);
		assert.deepEqual(none.recipients, []);
		const bare = await draftToSend(Buffer.from('\r\nonly a body'), NOW);
		assert.deepEqual(bare.recipients, []);
		assert.equal(bare.raw.toString(), 'Date: Sun, 06 Dec 2026 13:14:15 +0000\r\n\r\nonly a body');
	});
});

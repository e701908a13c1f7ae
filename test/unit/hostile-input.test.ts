/** Parameters and headers an attacker (or an expression fed by incoming mail) controls. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { filtersFrom } from '../../nodes/M365Mail/shared/descriptions';
import { checkGraphMessageId } from '../../nodes/M365Mail/transport/graph/mailbox';
import { MailServiceError } from '../../nodes/M365Mail/transport/auth/errors';
import { resolveCloud } from '../../nodes/M365Mail/transport/auth/clouds';
import { openImapSession } from '../../nodes/M365Mail/transport/imap/session';
import {
	cachedDecoderCount,
	cachedLabelCount,
	decodeTextPart,
} from '../../nodes/M365Mail/transport/mime/decode';
import { automatedMailReason, headerText } from '../../nodes/M365Mail/transport/mime/parse';

describe('hostile parameters', () => {
	it('importance reaches Graph’s $filter only as low, normal or high', () => {
		assert.equal(filtersFrom({ importance: 'High' }).importance, 'high');
		assert.throws(
			() => filtersFrom({ importance: "high' or isRead eq true or importance eq 'x" }),
			(e: MailServiceError) => e.kind === 'input' && /Low, Normal or High/.test(e.message),
		);
	});

	it('Graph message ids "." and ".." and ids with path characters are refused before any request', () => {
		for (const id of ['.', '..', '../messages', 'AAMk/../x', 'a b', 'a?b=c']) {
			assert.throws(
				() => checkGraphMessageId(id),
				(e: MailServiceError) => e.code === 'ErrorInvalidIdMalformed' && !e.message.includes(id),
				id,
			);
		}
		assert.equal(checkGraphMessageId('AAMkAGI2TG93AAA='), 'AAMkAGI2TG93AAA=');
	});

	it('a mailbox with a control character never reaches XOAUTH2’s user= field', async () => {
		let asked = false;
		const tokens = {
			kind: 'delegated' as const,
			getAccessToken: async () => {
				asked = true;
				return 'x';
			},
			signedInMailbox: async () => undefined,
		};
		await assert.rejects(
			openImapSession({
				cloud: resolveCloud({ cloud: 'global' }),
				tokens,
				mailbox: 'alice@example.test\u0001auth=Bearer stolen',
			}),
			(e: MailServiceError) =>
				/not a mailbox address/.test(e.message) && !e.message.includes('stolen'),
		);
		assert.equal(asked, false, 'refused before a token was even asked for');
	});

	it('the charset decoder cache does not grow with sender-chosen labels', () => {
		const part = (charset: string) =>
			({ part: '1', type: 'text/plain', encoding: '7bit', parameters: { charset } }) as never;
		// Long labels are not remembered at all (64 of them would otherwise hold 64 MB).
		decodeTextPart(part('x'.repeat(1_000_000)), Buffer.from('hi'));
		assert.equal(cachedLabelCount(), 0);
		for (let i = 0; i < 500; i++) decodeTextPart(part(`x-made-up-${i}`), Buffer.from('hi'));
		for (const label of ['utf8', 'UTF-8', 'unicode-1-1-utf-8', 'latin1', 'iso-8859-1'])
			decodeTextPart(part(label), Buffer.from('hi'));
		assert.ok(cachedDecoderCount() <= 3, `cached ${cachedDecoderCount()}`);
		assert.ok(cachedLabelCount() <= 64, `labels ${cachedLabelCount()}`);
		// Labels past the remembered ones still get their own decoder, and remembered ones keep theirs.
		assert.equal(decodeTextPart(part('iso-8859-1'), Buffer.from([0x63, 0x61, 0x66, 0xe9])), 'café');
		assert.equal(decodeTextPart(part('x-made-up-0'), Buffer.from('caf\u00e9')), 'café');
	});

	it('a decoded subject is one line: CR, LF, NUL and bidi controls become spaces', () => {
		assert.equal(
			headerText('Hi\r\nBcc: victim@example.test\u0000\u202Egnp.exe'),
			'Hi Bcc: victim@example.test gnp.exe',
		);
	});

	it('automated mail is recognised by its headers', () => {
		assert.match(
			String(automatedMailReason({ 'auto-submitted': 'auto-replied' })),
			/Auto-Submitted/,
		);
		assert.match(String(automatedMailReason({ precedence: 'bulk' })), /Precedence/);
		assert.match(String(automatedMailReason({ 'list-unsubscribe': '<mailto:x>' })), /mailing list/);
		assert.match(String(automatedMailReason({ 'return-path': '<>' })), /bounce/);
		assert.equal(automatedMailReason({ 'auto-submitted': 'no' }), undefined);
		assert.equal(automatedMailReason({}), undefined);
	});
});

describe('Graph: no whole download over the cap', () => {
	it('a message Exchange reports as larger than 150 MB is refused before its $value is requested', async () => {
		const { fetchGraphContent } = await import('../../nodes/M365Mail/transport/graph/messages');
		const requested: string[] = [];
		const client = {
			mailbox: 'a@b.test',
			request: async (r: { path: string }) => {
				requested.push(r.path);
				return Buffer.from('');
			},
		} as never;
		const huge = {
			id: 'AAMkHuge',
			subject: 'huge',
			singleValueExtendedProperties: [{ id: 'Integer 0xe08', value: String(200 * 1024 * 1024) }],
		};
		await assert.rejects(
			fetchGraphContent(client, huge, 'a@b.test', 'Inbox', 'parsed'),
			(e: MailServiceError) => e.code === 'MessageTooLarge' && /Simple output/.test(e.fix),
		);
		assert.deepEqual(requested, []);
		// The Simple output reads no $value: it still works.
		const simple = await fetchGraphContent(client, huge, 'a@b.test', 'Inbox', 'summary');
		assert.equal(simple.message.subject, 'huge');
	});
});

describe('Graph: no attachment download over the cap', () => {
	it('an attachment Graph describes as larger than 150 MB is refused before its $value is requested', async () => {
		const { downloadGraphAttachment } = await import(
			'../../nodes/M365Mail/transport/graph/attachments'
		);
		const requested: string[] = [];
		const client = {
			mailbox: 'a@b.test',
			request: async (r: { path: string }) => {
				requested.push(r.path);
				return { id: 'att', name: 'huge.bin', size: 200 * 1024 * 1024 };
			},
		} as never;
		await assert.rejects(
			downloadGraphAttachment(client, 'AAMkMsg', 'att', 0),
			(e: MailServiceError) => e.code === 'AttachmentTooLarge',
		);
		assert.equal(requested.length, 1);
		assert.ok(!requested[0].endsWith('$value'));
	});
});

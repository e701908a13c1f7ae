/**
 * The whole-message split (transport/mime/split.ts) against the real server: for every message of a
 * corpus (the hostile corpus, and well-formed mail as mail clients write it), the structure and
 * envelope we read from the bytes equal what Dovecot reports in BODYSTRUCTURE and ENVELOPE, as
 * imapflow reads them. The simple output reads mail both ways, so any difference here would give one
 * message two different items.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import type { FetchMessageObject } from 'imapflow';
import MailComposer from 'nodemailer/lib/mail-composer';

import { readingFolder } from '../../nodes/M365Mail/transport/imap/lock';
import {
	fetchMessages,
	fetchMetadata,
	fetchSimpleMessages,
	WHOLE_MESSAGE_LIMIT,
} from '../../nodes/M365Mail/transport/imap/messages';
import { splitMessage, splitTools } from '../../nodes/M365Mail/transport/mime/split';
import type { BodyPart } from '../../nodes/M365Mail/transport/mime/decode';
import { hostileCorpus } from '../fixtures/hostile';
import { appendMails, freshFolder, testImap } from '../harness/mail';

async function compose(options: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
	return await new MailComposer(options).compile().build();
}

/** Well-formed mail of the shapes mail clients send. */
export async function wellFormedCorpus(): Promise<Array<{ subject: string; raw: Buffer }>> {
	const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
	const inner = await compose({
		from: 'Inner <inner@example.test>',
		to: 'alice@example.test',
		subject: 'the forwarded one',
		text: 'inner text',
		attachments: [{ filename: 'inner.txt', content: 'inner attachment' }],
	});
	const list: Array<[string, ConstructorParameters<typeof MailComposer>[0]]> = [
		['text only', { text: 'just text\nsecond line' }],
		['text and html', { text: 'plain', html: '<p>rich</p>' }],
		['html only', { html: '<p>only <b>html</b></p>' }],
		[
			'attachments',
			{
				text: 'see attached',
				html: '<p>see attached</p>',
				attachments: [
					{ filename: 'report.pdf', content: Buffer.alloc(3000, 1) },
					{ filename: 'Übersicht – März 2026 (final version, very long name).xlsx', content: 'x' },
					{ filename: 'notes.txt', content: 'line\r\n'.repeat(50), contentType: 'text/plain' },
				],
			},
		],
		[
			'inline image',
			{
				html: '<p><img src="cid:logo@example.test"></p>',
				text: 'with a logo',
				attachments: [{ filename: 'logo.png', content: png, cid: 'logo@example.test' }],
			},
		],
		[
			'=?utf-8?B?' + Buffer.from('Grüße – encoded').toString('base64') + '?=',
			{
				from: '"Müller, Jürgen" <juergen@example.test>',
				to: ['Team: a@example.test, "B, Bee" <b@example.test>;', 'c@example.test'],
				cc: 'Ünïcode Name <u@example.test>',
				replyTo: 'replies@example.test',
				text: 'Grüße, quoted-printable',
				textEncoding: 'quoted-printable',
			},
		],
		[
			'base64 text',
			{ text: 'ünïcödé '.repeat(40), textEncoding: 'base64', sender: 'Sender <s@example.test>' },
		],
		[
			'forwarded message',
			{
				text: 'forwarding',
				attachments: [{ filename: 'fwd.eml', content: inner, contentType: 'message/rfc822' }],
			},
		],
		[
			'alternative with related',
			{
				text: 'alt text',
				html: '<p>alt <img src="cid:pic@x"></p>',
				attachments: [
					{ filename: 'pic.png', content: png, cid: 'pic@x' },
					{ filename: 'a.bin', content: Buffer.alloc(100, 2) },
				],
			},
		],
	];
	const result: Array<{ subject: string; raw: Buffer }> = [];
	for (const [subject, options] of list) {
		result.push({
			subject,
			raw: await compose({
				from: 'Sender <sender@example.test>',
				to: 'alice@example.test',
				subject,
				date: new Date('2026-03-01T10:00:00Z'),
				...options,
			}),
		});
	}
	const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n'), 'latin1');
	result.push(
		{
			subject: 'no content type, 8 bit',
			raw: crlf(['From: a@example.test', 'Subject: no content type, 8 bit', '', 'caf\u00e9', '']),
		},
		{
			subject: 'digest',
			raw: crlf([
				'From: a@example.test',
				'Subject: digest',
				'MIME-Version: 1.0',
				'Content-Type: multipart/digest; boundary="d"',
				'',
				'preamble',
				'--d',
				'',
				'From: x@example.test',
				'Subject: first',
				'',
				'first body',
				'--d',
				'Content-Type: text/plain',
				'',
				'not a message',
				'--d--',
				'epilogue',
			]),
		},
		{
			subject: 'prefix boundaries',
			raw: crlf([
				'From: a@example.test',
				'Subject: prefix boundaries',
				'Content-Type: multipart/mixed; boundary=b',
				'',
				'--b',
				'Content-Type: multipart/alternative; boundary=b1',
				'',
				'--b1',
				'Content-Type: text/plain',
				'',
				'inner plain',
				'--b1',
				'Content-Type: text/html',
				'',
				'<p>inner</p>',
				'--b1--',
				'--b  ',
				'Content-Type: application/octet-stream; name="x.bin"',
				'',
				'bytes',
				'--b--',
				'',
			]),
		},
		{
			subject: 'multipart without boundary',
			raw: crlf([
				'From: a@example.test',
				'Subject: multipart without boundary',
				'Content-Type: multipart/mixed',
				'',
				'body',
			]),
		},
		{
			subject: 'multipart, no delimiter',
			raw: crlf([
				'From: a@example.test',
				'Subject: multipart, no delimiter',
				'Content-Type: multipart/mixed; boundary="zz"',
				'',
				'body without parts',
			]),
		},
		{
			subject: 'type without subtype',
			raw: crlf([
				'From: a@example.test',
				'Subject: type without subtype',
				'Content-Type: text; charset=utf-8',
				'Content-Disposition: inline; filename="t.txt"',
				'',
				'body',
			]),
		},
		{
			subject: 'rfc 2231 continuations',
			raw: crlf([
				'From: a@example.test',
				'Subject: rfc 2231 continuations',
				'Content-Type: multipart/mixed; boundary="c"',
				'',
				'--c',
				'Content-Type: text/plain; charset=iso-8859-1',
				'Content-Transfer-Encoding: quoted-printable',
				'',
				'caf=E9',
				'--c',
				'Content-Type: application/pdf;',
				"\tname*0*=utf-8''%C3%BCber;",
				'\tname*1="sicht.pdf"',
				"Content-Disposition: attachment; filename*0*=utf-8''%C3%BCber; filename*1=sicht.pdf",
				'Content-ID: <id-1@example.test>',
				'',
				'pdf',
				'--c--',
			]),
		},
	);
	return result;
}

/** What the comparison looks at: imapflow's fields that our code reads. */
function comparable(node: BodyPart | undefined): unknown {
	if (!node) return undefined;
	return {
		part: node.part,
		type: node.type,
		parameters: node.parameters,
		id: node.id,
		encoding: node.encoding,
		size: node.size,
		disposition: node.disposition,
		dispositionParameters: node.dispositionParameters,
		childNodes: node.childNodes?.map(comparable),
	};
}

function comparableEnvelope(envelope: Record<string, unknown> | undefined): unknown {
	const result: Record<string, unknown> = {};
	for (const [key, value] of Object.entries(envelope ?? {}))
		result[key] = value instanceof Date ? value.toISOString() : value;
	return result;
}

describe('splitting a whole message, against the server', () => {
	const fetched: Array<{ subject: string; server: FetchMessageObject }> = [];
	let folder = '';

	before(async () => {
		const corpus = [...hostileCorpus(), ...(await wellFormedCorpus())];
		folder = await freshFolder('split');
		const uids = await appendMails(
			folder,
			corpus.map((m) => m.raw),
		);
		const client = await testImap();
		try {
			const lock = await client.getMailboxLock(`INBOX/${folder.split('/')[1]}`);
			try {
				const all = await client.fetchAll(
					uids.join(','),
					{ uid: true, source: true, bodyStructure: true, envelope: true },
					{ uid: true },
				);
				for (const server of all.sort((a, b) => a.uid - b.uid))
					fetched.push({ subject: corpus[uids.indexOf(server.uid)].subject, server });
			} finally {
				lock.release();
			}
		} finally {
			await client.logout();
		}
	});

	it('reads the same body structure as BODYSTRUCTURE, for every message', async () => {
		const tools = await splitTools();
		assert.ok(fetched.length >= 30, `${fetched.length} messages`);
		const differences: string[] = [];
		for (const { subject, server } of fetched) {
			const ours = splitMessage(tools, server.source!);
			try {
				assert.deepEqual(
					comparable(ours.structure),
					comparable(server.bodyStructure as BodyPart | undefined),
				);
			} catch (error) {
				differences.push(`${subject}: ${(error as Error).message}`);
			}
		}
		assert.deepEqual(differences, []);
	});

	it('gives the same simple output whether a message is read whole or by structure', async () => {
		const client = await testImap();
		try {
			await readingFolder(client, { mailbox: '', folder }, async (open) => {
				const metadata = await fetchMetadata(
					open,
					fetched.map((m) => m.server.uid),
				);
				const small = metadata.filter((m) => m.size <= WHOLE_MESSAGE_LIMIT);
				// Everything but the 12 MB attachment is read whole.
				assert.equal(small.length, metadata.length - 1);
				const byStructure = await fetchMessages(open, metadata, 'summary');
				const whole = await fetchSimpleMessages(
					open,
					metadata.map((m) => ({ uid: m.uid, size: m.size })),
				);
				assert.equal(whole.length, byStructure.length);
				const differences: string[] = [];
				for (let i = 0; i < whole.length; i++) {
					try {
						assert.deepEqual(whole[i], byStructure[i]);
					} catch (error) {
						differences.push(`${whole[i].message.subject}: ${(error as Error).message}`);
					}
				}
				assert.deepEqual(differences, []);
			});
		} finally {
			await client.logout();
		}
	});

	it('reads the same envelope as ENVELOPE, for every message', async () => {
		const tools = await splitTools();
		const differences: string[] = [];
		for (const { subject, server } of fetched) {
			const ours = splitMessage(tools, server.source!);
			try {
				assert.deepEqual(
					comparableEnvelope(ours.envelope as Record<string, unknown>),
					comparableEnvelope(server.envelope as unknown as Record<string, unknown>),
				);
			} catch (error) {
				differences.push(`${subject}: ${(error as Error).message}`);
			}
		}
		assert.deepEqual(differences, []);
	});
});

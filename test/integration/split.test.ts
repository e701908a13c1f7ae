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

import { readingFolder } from '../../nodes/M365Mail/transport/imap/lock';
import {
	fetchMessages,
	fetchMetadata,
	fetchSimpleMessages,
	WHOLE_MESSAGE_LIMIT,
} from '../../nodes/M365Mail/transport/imap/messages';
import { splitMessage, splitTools } from '../../nodes/M365Mail/transport/mime/split';
import type { BodyPart } from '../../nodes/M365Mail/transport/mime/decode';
import { TEXT_LIMIT_BYTES } from '../../nodes/M365Mail/transport/types';
import { hostileCorpus } from '../fixtures/hostile';
import { wellFormedCorpus } from '../fixtures/wellformed';
import { appendMails, buildMail, freshFolder, testImap } from '../harness/mail';

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
				// Everything but the 12 MB attachment is read whole: the others are given as within the
				// whole-message limit, so that the 150 KB header is read whole too (it is over the limit).
				const asSmall = metadata.map((m) => ({
					uid: m.uid,
					size: m.size > TEXT_LIMIT_BYTES ? m.size : Math.min(m.size, WHOLE_MESSAGE_LIMIT),
				}));
				assert.equal(
					asSmall.filter((m) => m.size <= WHOLE_MESSAGE_LIMIT).length,
					metadata.length - 1,
				);
				assert.ok(metadata.some((m) => m.size > WHOLE_MESSAGE_LIMIT && m.size <= TEXT_LIMIT_BYTES));
				// By structure, the text parts of all of them are read by our own reader (one pipelined
				// download); ten at a time, by imapflow's. The same items either way.
				const partFetches: unknown[] = [];
				const fetchAll = open.client.fetchAll.bind(open.client);
				open.client.fetchAll = ((uids: unknown, query: Record<string, unknown>, opts: unknown) => {
					if (query.bodyParts) partFetches.push(uids);
					return fetchAll(uids as never, query as never, opts as never);
				}) as typeof open.client.fetchAll;
				const byStructure = await fetchMessages(open, metadata, 'summary');
				assert.deepEqual(partFetches, [], 'no FETCH of text parts through imapflow');
				const byImapflow: typeof byStructure = [];
				for (let i = 0; i < metadata.length; i += 10)
					byImapflow.push(...(await fetchMessages(open, metadata.slice(i, i + 10), 'summary')));
				assert.ok(partFetches.length > 1, 'ten at a time, imapflow reads the text parts');
				assert.deepEqual(byStructure, byImapflow);
				const whole = await fetchSimpleMessages(open, asSmall);
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
				// Both ways read what the structure path once missed: a single-part HTML message, and
				// the body (not the headers) of a message inside a digest.
				const bySubject = (subject: string) =>
					byStructure.find((m) => m.message.subject === subject)!.message;
				assert.equal(bySubject('html only').html, '<p>only <b>html</b></p>');
				assert.equal(bySubject('html only').text, 'only html');
				assert.equal(bySubject('digest').text, 'first body');
			});
		} finally {
			await client.logout();
		}
	});

	it('reads a message over 64 KB (a 200 KB attachment) by parts: its text, never its attachment', async () => {
		const big = await buildMail({
			subject: 'over the limit',
			text: 'short text',
			attachments: [{ filename: 'big.bin', content: Buffer.alloc(200 * 1024, 1) }],
		});
		const small = await buildMail({ subject: 'under the limit', text: 'small text' });
		const where = await freshFolder('limit');
		const [bigUid, smallUid] = await appendMails(where, [big, small]);
		const client = await testImap();
		try {
			await readingFolder(client, { mailbox: '', folder: where }, async (open) => {
				const queries: Array<{ uids: unknown; query: Record<string, unknown> }> = [];
				const fetchAll = open.client.fetchAll.bind(open.client);
				open.client.fetchAll = ((
					uids: unknown,
					query: Record<string, unknown>,
					options: unknown,
				) => {
					queries.push({ uids, query });
					return fetchAll(uids as never, query as never, options as never);
				}) as typeof open.client.fetchAll;
				const sizes = (await fetchMetadata(open, [bigUid, smallUid])).map((m) => ({
					uid: m.uid,
					size: m.size,
				}));
				assert.ok(sizes[0].size > WHOLE_MESSAGE_LIMIT);
				const [bigItem, smallItem] = await fetchSimpleMessages(open, sizes);
				assert.equal(bigItem.message.text, 'short text');
				assert.equal(bigItem.message.attachments[0].filename, 'big.bin');
				assert.equal(smallItem.message.text, 'small text');
				// The whole of the small one; of the big one, its text part only, and at most 1 MB of it.
				const whole = queries.filter((q) => q.query.source);
				assert.deepEqual(
					whole.map((q) => q.uids),
					[[smallUid]],
				);
				const parts = queries.filter((q) => q.query.bodyParts);
				assert.equal(parts.length, 1);
				assert.deepEqual(parts[0].query.bodyParts, [{ key: '1', maxLength: TEXT_LIMIT_BYTES }]);
			});
		} finally {
			await client.logout();
		}
	});

	it('small messages whole and the text parts of large ones go out in one write (one round trip), with the same items as read in turn', async () => {
		const attachment = { filename: 'big.bin', content: Buffer.alloc(200 * 1024, 7) };
		const headerOf = (subject: string) =>
			`From: a@example.test\r\nTo: alice@example.test\r\nSubject: ${subject}\r\n`;
		/** A 200 KB attachment's header and body, as a part or as a whole message's body. */
		const attachmentPart = (byte: number) =>
			'Content-Type: application/octet-stream; name="big.bin"\r\n' +
			'Content-Transfer-Encoding: base64\r\n\r\n' +
			Buffer.alloc(200 * 1024, byte)
				.toString('base64')
				.replace(/.{76}/g, '$&\r\n') +
			'\r\n';
		const small = await Promise.all(
			Array.from({ length: 21 }, (_, i) => buildMail({ subject: `small ${i}`, text: `text ${i}` })),
		);
		// Large ones of every layout: a text part, text and HTML, HTML alone, a text part over 64 KB
		// with no attachment, and only an attachment (no text part to ask for).
		const large = [
			await buildMail({ subject: 'large text', text: 'short text', attachments: [attachment] }),
			await buildMail({
				subject: 'large text and html',
				text: 'plain words',
				html: '<p>html <b>words</b></p>',
				attachments: [attachment],
			}),
			Buffer.from(
				headerOf('large html') +
					'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n' +
					'Content-Type: text/html; charset=utf-8\r\n\r\n<p>only html</p>\r\n--b\r\n' +
					attachmentPart(5) +
					'--b--\r\n',
			),
			await buildMail({ subject: 'large body', text: 'line of text\n'.repeat(8000) }),
			Buffer.from(headerOf('only an attachment') + attachmentPart(9)),
		];
		const where = await freshFolder('pipelined');
		const uids = await appendMails(where, [...small.slice(0, 10), ...large, ...small.slice(10)]);
		const client = await testImap();
		try {
			await readingFolder(client, { mailbox: '', folder: where }, async (open) => {
				const sizes = (await fetchMetadata(open, uids)).map((m) => ({ uid: m.uid, size: m.size }));
				assert.equal(sizes.filter((m) => m.size > WHOLE_MESSAGE_LIMIT).length, large.length);
				const queries: Array<Record<string, unknown>> = [];
				const fetchAll = open.client.fetchAll.bind(open.client);
				open.client.fetchAll = ((uids: unknown, query: Record<string, unknown>, opts: unknown) => {
					queries.push(query);
					return fetchAll(uids as never, query as never, opts as never);
				}) as typeof open.client.fetchAll;
				const socket = (open.client as unknown as { socket: { write: (c: unknown) => boolean } })
					.socket;
				const writes: string[] = [];
				const write = socket.write.bind(socket);
				socket.write = (chunk: unknown, ...rest: unknown[]) => {
					writes.push(String(chunk));
					return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
				};
				const items = await fetchSimpleMessages(open, sizes);
				socket.write = write;
				open.client.fetchAll = fetchAll;
				// imapflow read the large ones' structure, and nothing else.
				assert.deepEqual(
					queries.map((q) => [Boolean(q.bodyStructure), Boolean(q.source), Boolean(q.bodyParts)]),
					[[true, false, false]],
				);
				// One write of our reader's: the FETCH of the small ones whole, and one per layout of the large ones' text
				// parts ("1" for three of them, "1.1,1.2" for text and HTML; none for the attachment).
				const fetches = writes.filter((w) => /^M365B\S* UID FETCH /.test(w));
				assert.equal(fetches.length, 1, fetches.join('\n'));
				const commands = fetches[0].split('\r\n').filter(Boolean);
				assert.equal(commands.filter((c) => c.includes('BODY.PEEK[]')).length, 1);
				assert.equal(commands.filter((c) => /BODY\.PEEK\[\d/.test(c)).length, 2, fetches[0]);
				// The same items as read one by one (imapflow's reader, by structure for the large ones).
				const inTurn = [];
				for (const m of sizes) inTurn.push(...(await fetchSimpleMessages(open, [m])));
				assert.deepEqual(items, inTurn);
				const bySubject = (subject: string) =>
					items.find((m) => m.message.subject === subject)!.message;
				assert.equal(bySubject('large text').text, 'short text');
				assert.equal(bySubject('large text and html').html, '<p>html <b>words</b></p>');
				assert.equal(bySubject('large html').text, 'only html');
				assert.equal(bySubject('large body').text, 'line of text\n'.repeat(8000).slice(0, -1));
				assert.equal(bySubject('only an attachment').text, null);
				assert.equal(bySubject('small 20').text, 'text 20');
				assert.equal(items.length, uids.length);
			});
		} finally {
			await client.logout();
		}
	});

	it('where the two readings differ: broken header fields, as the README says', async () => {
		// An address without a domain, and a CR alone in a header: Dovecot's ENVELOPE writes
		// `@missing_domain` and a space, the whole-message reading keeps what the sender wrote.
		const raw = Buffer.from(
			'From: a@example.test\r\nTo: alice\r\nSubject: broken\r\n' +
				'Message-ID: <id@example.test>\rX\r\n\r\nbody\r\n',
			'latin1',
		);
		const broken = await freshFolder('broken-fields');
		const [uid] = await appendMails(broken, [raw]);
		const client = await testImap();
		try {
			await readingFolder(client, { mailbox: '', folder: broken }, async (open) => {
				const metadata = await fetchMetadata(open, [uid]);
				const [whole] = await fetchSimpleMessages(open, [{ uid, size: metadata[0].size }]);
				const [byStructure] = await fetchMessages(open, metadata, 'summary');
				assert.deepEqual(
					[whole.message.to, whole.message.messageId],
					[[{ name: 'alice', address: '' }], '<id@example.test>\rX'],
				);
				assert.deepEqual(
					[byStructure.message.to, byStructure.message.messageId],
					[[{ name: '', address: 'alice@missing_domain' }], '<id@example.test> X'],
				);
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

/**
 * The bulk FETCH reader (transport/imap/bulk.ts) on a session made of streams: the server's answer
 * cut at every possible place, responses that are not ours handed to the session's own reader in
 * order, literals that look like IMAP, a refusal, and a connection that ends mid-answer.
 */
import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { describe, it } from 'node:test';

import type { ImapFlow } from 'imapflow';

import {
	bulkFetch,
	canBulkFetch,
	type BulkMessage,
	type BulkQuery,
} from '../../nodes/M365Mail/transport/imap/bulk';
import {
	internalDateOf,
	messageOf,
	uidSet,
} from '../../nodes/M365Mail/transport/imap/bulkResponse';

/** A session as imapflow has it: the socket piped into its reader; `server` is the other end. */
function fakeSession() {
	const written = new PassThrough();
	const socket = new Duplex({
		read() {},
		write(chunk: Buffer, _encoding, done) {
			written.write(chunk);
			done();
		},
	});
	const server = { write: (data: Buffer) => socket.push(data), end: () => socket.push(null) };
	const streamer = new PassThrough();
	socket.pipe(streamer);
	let forwarded = '';
	streamer.on('data', (d: Buffer) => (forwarded += d.toString('latin1')));
	const session = {
		socket,
		writeSocket: socket,
		streamer,
		usable: true,
		idling: false,
		currentRequest: false,
		requestQueue: [] as unknown[],
		closed: false,
		close() {
			this.usable = false;
			this.closed = true;
		},
	};
	return { session, server, written, forwarded: () => forwarded };
}

const BODY_A = Buffer.from(
	'Subject: a\r\n\r\n* 9 FETCH (UID 99 BODY[] {4}\r\nM365Bx OK done\r\n)\r\nT1 OK\r\n',
	'latin1',
);
const BODY_B = Buffer.from('Subject: b\r\n\r\nbody\x00with NUL and \xff bytes\r\n', 'latin1');

function answer(tag: string): Buffer {
	return Buffer.concat([
		Buffer.from('* 3 EXISTS\r\n'),
		Buffer.from(
			`* 1 FETCH (UID 11 FLAGS (\\Seen $Label) INTERNALDATE "02-Dec-2026 10:04:05 +0100" RFC822.SIZE ${BODY_A.length} BODY[] {${BODY_A.length}}\r\n`,
		),
		BODY_A,
		Buffer.from(')\r\n'),
		// An update of another message, not an answer to us: the session's reader gets it.
		Buffer.from('* 2 FETCH (FLAGS (\\Flagged))\r\n'),
		Buffer.from(`* 3 FETCH (FLAGS () UID 12 BODY[] {${BODY_B.length}}\r\n`),
		BODY_B,
		Buffer.from(' INTERNALDATE "01-Jan-2026 00:00:00 -0000" RFC822.SIZE 40)\r\n'),
		Buffer.from(`${tag} OK Fetch completed.\r\n* 4 EXISTS\r\n`),
	]);
}

async function run(
	cut: (data: Buffer) => Buffer[],
	respond: (tag: string) => Buffer = answer,
	query: BulkQuery = 'whole',
) {
	const fake = fakeSession();
	const client = fake.session as unknown as ImapFlow;
	let command = '';
	fake.written.on('data', (d: Buffer) => {
		command += d.toString();
		const tag = command.split(' ')[0];
		setImmediate(() => {
			for (const piece of cut(respond(tag))) fake.server.write(piece);
		});
	});
	const got: BulkMessage[] = [];
	let error: unknown;
	try {
		for await (const group of bulkFetch(client, [11, 12], query)) got.push(...group);
	} catch (e) {
		error = e;
	}
	// What was handed back reaches the session's reader on the next turns.
	await new Promise((r) => setTimeout(r, 10));
	return { got, error, command, forwarded: fake.forwarded(), session: fake.session };
}

const everyByte = (data: Buffer) => [...data].map((b) => Buffer.from([b]));
const whole = (data: Buffer) => [data];

describe('bulk FETCH reader', () => {
	it('packs UIDs into ranges', () => {
		assert.equal(uidSet([5, 1, 2, 3, 9, 10, 3]), '1:3,5,9:10');
		assert.equal(uidSet([7]), '7');
	});

	it('reads INTERNALDATE with its zone', () => {
		assert.equal(
			internalDateOf('02-Dec-2026 10:04:05 +0100')?.toISOString(),
			'2026-12-02T09:04:05.000Z',
		);
		assert.equal(
			internalDateOf(' 2-Dec-2026 10:04:05 -0030')?.toISOString(),
			'2026-12-02T10:34:05.000Z',
		);
		assert.equal(internalDateOf('yesterday'), undefined);
	});

	for (const [name, cut] of [
		['in one piece', whole],
		['one byte at a time', everyByte],
	] as const) {
		it(`reads the messages, hands the rest to the session (${name})`, async () => {
			const { got, error, command, forwarded, session } = await run(cut);
			assert.equal(error, undefined);
			assert.match(
				command,
				/^M365B\w+ UID FETCH 11:12 \(UID FLAGS INTERNALDATE RFC822\.SIZE BODY\.PEEK\[\]\)\r\n$/,
			);
			assert.deepEqual(
				got.map((m) => [m.uid, [...m.flags], m.size, m.internalDate?.toISOString()]),
				[
					[11, ['\\Seen', '$Label'], BODY_A.length, '2026-12-02T09:04:05.000Z'],
					[12, [], 40, '2026-01-01T00:00:00.000Z'],
				],
			);
			assert.ok(got[0].source?.equals(BODY_A), 'a body that looks like IMAP is only bytes');
			assert.ok(got[1].source?.equals(BODY_B));
			// In order: before, between, and after our tagged answer.
			assert.equal(forwarded, '* 3 EXISTS\r\n* 2 FETCH (FLAGS (\\Flagged))\r\n* 4 EXISTS\r\n');
			assert.equal(session.usable, true);
			assert.equal(session.closed, false);
		});
	}

	it('cut at random places, many times', async () => {
		let seed = 7;
		const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
		for (let round = 0; round < 50; round++) {
			const { got, error } = await run((data) => {
				const pieces: Buffer[] = [];
				for (let i = 0; i < data.length; ) {
					const n = 1 + Math.floor(random() * 40);
					pieces.push(data.subarray(i, i + n));
					i += n;
				}
				return pieces;
			});
			assert.equal(error, undefined);
			assert.deepEqual(
				got.map((m) => m.uid),
				[11, 12],
			);
			assert.ok(got[0].source?.equals(BODY_A) && got[1].source?.equals(BODY_B));
		}
	});

	it('reads sizes only', async () => {
		const { got, error, command } = await run(
			whole,
			(tag) =>
				Buffer.from(
					`* 1 FETCH (UID 11 RFC822.SIZE 120)\r\n* 1 FETCH (FLAGS (\\Seen) UID 11)\r\n* 2 FETCH (UID 12 RFC822.SIZE 7)\r\n${tag} OK done\r\n`,
				),
			'sizes',
		);
		assert.equal(error, undefined);
		assert.match(command, /UID FETCH 11:12 \(UID RFC822\.SIZE\)\r\n$/);
		assert.deepEqual(
			got.map((m) => [m.uid, m.size]),
			[
				[11, 120],
				[12, 7],
			],
		);
	});

	it('a refused FETCH gives the session back, usable, with an error that says so', async () => {
		const { got, error, forwarded, session } = await run(whole, (tag) =>
			Buffer.from(`* 5 EXPUNGE\r\n${tag} BAD Error in IMAP command: Invalid uidset\r\n`),
		);
		assert.deepEqual(got, []);
		assert.match(
			String((error as Error).message),
			/refused the download: BAD Error in IMAP command/,
		);
		assert.equal((error as { kind?: string }).kind, 'input');
		assert.equal(forwarded, '* 5 EXPUNGE\r\n');
		assert.equal(session.usable, true);
	});

	it('a connection that ends mid-answer fails the download, never as "fewer messages"', async () => {
		const fake = fakeSession();
		fake.written.on('data', () =>
			setImmediate(() => {
				fake.server.write(answer('X').subarray(0, 200));
				fake.server.end();
			}),
		);
		const got: BulkMessage[] = [];
		await assert.rejects(
			async () => {
				for await (const group of bulkFetch(fake.session as unknown as ImapFlow, [11, 12]))
					got.push(...group);
			},
			(e: Error & { kind?: string }) =>
				/connection failed during the download/.test(e.message) && e.kind === 'network',
		);
		assert.equal(fake.session.closed, true, 'a session left mid-answer is closed');
	});

	it('a download stopped early closes the session (it is mid-answer)', async () => {
		const fake = fakeSession();
		fake.written.on('data', (d: Buffer) => {
			const tag = d.toString().split(' ')[0];
			const data = answer(tag);
			setImmediate(() => fake.server.write(data.subarray(0, data.indexOf('* 2 FETCH'))));
		});
		for await (const group of bulkFetch(fake.session as unknown as ImapFlow, [11, 12])) {
			assert.equal(group[0].uid, 11);
			break;
		}
		assert.equal(fake.session.closed, true);
	});

	it('is not used while the session is busy or idling', () => {
		const fake = fakeSession();
		assert.equal(canBulkFetch(fake.session as unknown as ImapFlow), true);
		assert.equal(canBulkFetch({ ...fake.session, idling: true } as unknown as ImapFlow), false);
		assert.equal(
			canBulkFetch({ ...fake.session, currentRequest: {} } as unknown as ImapFlow),
			false,
		);
		assert.equal(canBulkFetch({ ...fake.session, usable: false } as unknown as ImapFlow), false);
		// A compressed session (COMPRESS=DEFLATE) is left to imapflow.
		const inflate = new PassThrough();
		assert.equal(
			canBulkFetch({ ...fake.session, _inflate: inflate } as unknown as ImapFlow),
			false,
		);
		assert.equal(
			canBulkFetch({ ...fake.session, writeSocket: new PassThrough() } as unknown as ImapFlow),
			false,
		);
	});

	it('takes only FETCH answers that carry what was asked', () => {
		assert.equal(messageOf(['* 1 FETCH (FLAGS (\\Seen))\r\n']), undefined);
		assert.equal(messageOf(['* 1 FETCH (UID 4 FLAGS (\\Seen))\r\n'], 'sizes'), undefined);
		assert.equal(messageOf(['* 1 EXISTS\r\n']), undefined);
		assert.equal(messageOf(['* 1 FETCH (UID 0 BODY[] "")\r\n']), undefined);
		assert.equal(messageOf(['* 1 FETCH (UID 4 BODY[] NIL)\r\n']), undefined);
		assert.equal(messageOf(['* 1 FETCH (UID 4 BODY[] "NIL")\r\n'])?.source?.toString(), 'NIL');
		assert.deepEqual(messageOf(['* 1 FETCH (UID 4 BODY[] "")\r\n'])?.source, Buffer.alloc(0));
		assert.deepEqual(
			messageOf(['* 1 FETCH (UID 4 BODY[] "caf\xe9")\r\n'])?.source,
			Buffer.from([0x63, 0x61, 0x66, 0xe9]),
		);
		assert.equal(
			messageOf(['* 1 FETCH (UID 4 BODY[] "a \\"quoted\\" body")\r\n'])?.source?.toString(),
			'a "quoted" body',
		);
	});
});

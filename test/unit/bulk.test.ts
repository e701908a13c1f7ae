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
	bulkFetchPipelined,
	canBulkFetch,
	type BulkMessage,
	type BulkQuery,
	type BulkRequest,
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
	query: Exclude<BulkQuery, 'parts'> = 'whole',
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

	/** Two pipelined FETCHes of sections, as Dovecot answers them (the second tag `<tag>.2`). */
	const PART_A = Buffer.from('text of 11\r\n* 1 FETCH (UID 99 BODY[1] {3}\r\nNO\r\n', 'latin1');
	function partsAnswer(tag: string, second = 'OK done'): Buffer {
		return Buffer.concat([
			Buffer.from(`* 1 FETCH (UID 11 BODY[1.1]<0> {${PART_A.length}}\r\n`),
			PART_A,
			Buffer.from(' BODY[1.2]<0> "<p>html \\"q\\"</p>")\r\n'),
			Buffer.from('* 2 FETCH (FLAGS (\\Seen) UID 12)\r\n'),
			Buffer.from(`${tag} OK done\r\n* 7 EXISTS\r\n`),
			Buffer.from('* 2 FETCH (UID 12 BODY[1]<0> NIL)\r\n'),
			Buffer.from('* 3 FETCH (UID 13 BODY[2]<0> {4}\r\nabcd)\r\n'),
			Buffer.from(`${tag}.2 ${second}\r\n* 8 EXISTS\r\n`),
		]);
	}
	async function pipelined(cut: (data: Buffer) => Buffer[], second?: string) {
		const fake = fakeSession();
		let command = '';
		fake.written.on('data', (d: Buffer) => {
			command += d.toString();
			const tag = command.split(' ')[0];
			setImmediate(() => {
				for (const piece of cut(partsAnswer(tag, second))) fake.server.write(piece);
			});
		});
		const got: BulkMessage[] = [];
		let error: unknown;
		try {
			for await (const group of bulkFetchPipelined(fake.session as unknown as ImapFlow, [
				{ uids: [11], query: 'parts', sections: ['1.1', '1.2'], maxLength: 1000 },
				{ uids: [12, 13], query: 'parts', sections: ['1', '2'], maxLength: 1000 },
			]))
				got.push(...group);
		} catch (e) {
			error = e;
		}
		await new Promise((r) => setTimeout(r, 10));
		return { got, error, command, forwarded: fake.forwarded(), session: fake.session };
	}
	const partsOf = (got: BulkMessage[]) =>
		got.map((m) => [
			m.uid,
			Object.fromEntries([...(m.parts ?? [])].map(([k, v]) => [k, v.toString('latin1')])),
		]);

	for (const [name, cut] of [
		['in one piece', whole],
		['one byte at a time', everyByte],
	] as const) {
		it(`pipelines FETCHes of sections: one write, every answer read, the rest handed on (${name})`, async () => {
			const { got, error, command, forwarded, session } = await pipelined(cut);
			assert.equal(error, undefined);
			assert.match(
				command,
				/^(M365B\w+) UID FETCH 11 \(UID BODY\.PEEK\[1\.1\]<0\.1000> BODY\.PEEK\[1\.2\]<0\.1000>\)\r\n\1\.2 UID FETCH 12:13 \(UID BODY\.PEEK\[1\]<0\.1000> BODY\.PEEK\[2\]<0\.1000>\)\r\n$/,
			);
			assert.deepEqual(partsOf(got), [
				[11, { '1.1': PART_A.toString('latin1'), '1.2': '<p>html "q"</p>' }],
				// NIL is no bytes, as imapflow reads it; the message is answered all the same.
				[12, {}],
				[13, { '2': 'abcd' }],
			]);
			// The flag update and the EXISTS between the answers go to the session, in order, and what
			// followed the last tagged answer too.
			assert.equal(forwarded, '* 2 FETCH (FLAGS (\\Seen) UID 12)\r\n* 7 EXISTS\r\n* 8 EXISTS\r\n');
			assert.equal(session.usable, true);
		});
	}

	it('pipelined: one FETCH refused, the other answered: the error comes after both, and the session is usable', async () => {
		const { got, error, forwarded, session } = await pipelined(
			whole,
			'NO [SERVERBUG] Internal error',
		);
		assert.deepEqual(
			got.map((m) => m.uid),
			[11, 12, 13],
		);
		assert.match(String((error as Error).message), /refused the download: NO \[SERVERBUG\]/);
		assert.equal((error as { kind?: string }).kind, 'input');
		assert.match(forwarded, /\* 8 EXISTS\r\n$/);
		assert.equal(session.usable, true);
	});

	it('pipelined: section names are numbers only, a UID is asked once', async () => {
		const fake = fakeSession();
		const client = fake.session as unknown as ImapFlow;
		const drain = async (requests: BulkRequest[]) => {
			for await (const group of bulkFetchPipelined(client, requests)) void group;
		};
		await assert.rejects(
			drain([{ uids: [1], query: 'parts', sections: ['1] BODY[]'], maxLength: 10 }]),
			/not a section number/,
		);
		await assert.rejects(
			drain([
				{ uids: [1, 2], query: 'whole' },
				{ uids: [2], query: 'parts', sections: ['1'], maxLength: 10 },
			]),
			/a UID in two FETCHes/,
		);
		assert.equal(fake.session.usable, true);
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

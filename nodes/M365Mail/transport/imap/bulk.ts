/**
 * Whole-message download for a drain: one `UID FETCH … BODY.PEEK[]` written on the session's own
 * socket and read by a small reader of its own, instead of imapflow's response parser. imapflow reads
 * every response through a general tokenizer and hands each message over one at a time; on a drain
 * of hundreds of messages that costs more than the server takes to send them (bench/README.md). The
 * same reader downloads sizes, and the text parts of large messages: one FETCH per part layout, all
 * written at once (pipelined, RFC 3501 5.5), so that they cost one round trip, not one each.
 *
 * The session is borrowed, never taken: it is used only between two imapflow commands (the caller
 * holds the folder's lock; nothing is in flight, the session is not idling), imapflow's reader is
 * detached from the socket for our commands and attached again after their tagged answers, and every
 * response that is not a message of ours (EXISTS, EXPUNGE, a flag change, BYE…) is passed on to
 * imapflow as if it had read it. A refused FETCH leaves the session as it was, so the caller can fall
 * back to imapflow; a socket that closes fails the download (imapflow sees the close itself).
 *
 * The reader trusts nothing in a message: bodies are read as literals by their announced length, so
 * a message that contains IMAP-looking lines is only bytes. Lines outside literals are capped.
 */
import type { Readable, Writable } from 'node:stream';

import type { ImapFlow } from 'imapflow';

import { MailServiceError } from '../auth/errors';
import {
	messageOf,
	partsQuery,
	QUERIES,
	uidSet,
	type BulkMessage,
	type BulkQuery,
} from './bulkResponse';

export type { BulkMessage, BulkQuery };

/** One FETCH of a pipelined bulk download: its UIDs, and what it asks for. */
export interface BulkRequest {
	uids: number[];
	query: BulkQuery;
	/** 'parts': the sections, each read up to `maxLength` bytes. */
	sections?: string[];
	maxLength?: number;
}

/** Drains this small are left to imapflow: the saving is in the per-message cost. */
export const BULK_MIN_MESSAGES = 20;

/** A response line (outside literals) longer than this is not IMAP: the download fails. */
const MAX_LINE_BYTES = 1024 * 1024;

/** The reader stops reading the socket while this much is parsed and not yet taken. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;

/**
 * What of imapflow's session the borrow needs: fields of imapflow 2.10.2 (pinned in package.json),
 * checked before use; a session without them is left to imapflow.
 */
interface SessionInternals {
	socket?: Readable & Writable & { destroyed?: boolean };
	writeSocket?: Writable;
	_inflate?: Readable | null;
	streamer?: Writable;
	usable?: boolean;
	idling?: boolean;
	currentRequest?: unknown;
	requestQueue?: unknown[];
}

/** Whether the session can be borrowed now (see the top of this file). */
export function canBulkFetch(client: ImapFlow): boolean {
	return borrowable(client) !== undefined;
}

/** The parts of the session to borrow, or undefined when it cannot be borrowed now. */
function borrowable(client: ImapFlow):
	| {
			read: Readable;
			write: Writable;
			streamer: Writable;
	  }
	| undefined {
	const s = client as unknown as SessionInternals;
	// A compressed session (COMPRESS=DEFLATE) is left to imapflow: Microsoft 365 does not offer it,
	// and the test server does not either, so that path would be untested.
	if (s._inflate || (s.writeSocket && s.writeSocket !== s.socket)) return;
	const socket = s.socket;
	if (!socket || !s.streamer || !s.usable || s.idling || socket.destroyed) return;
	if (s.currentRequest || (s.requestQueue && s.requestQueue.length)) return;
	return { read: socket, write: socket, streamer: s.streamer };
}

class Refused extends Error {}

/** The FETCH items of a request. */
function itemsOf(request: BulkRequest): string {
	if (request.query !== 'parts') return QUERIES[request.query];
	return partsQuery(request.sections ?? [], request.maxLength ?? 0);
}

/** The bytes of a message's sections (what it holds until taken). */
function sizeOfParts(message: BulkMessage): number {
	let bytes = 64;
	for (const part of message.parts?.values() ?? []) bytes += part.length;
	return bytes;
}

/**
 * Downloads whole messages with one FETCH on the borrowed session, yielding them in the order the
 * server sends them, a group at a time; only messages asked for are yielded. Check canBulkFetch
 * first: a session that cannot be borrowed is an error here. A FETCH the server refuses throws a
 * MailServiceError with kind 'input' and leaves the session usable; a broken connection throws one
 * with kind 'network'. A download stopped early closes the session (it is mid-response).
 */
export async function* bulkFetch(
	client: ImapFlow,
	uids: number[],
	query: Exclude<BulkQuery, 'parts'> = 'whole',
	tag = `M365B${Date.now().toString(36)}`,
): AsyncGenerator<BulkMessage[]> {
	yield* bulkFetchPipelined(client, [{ uids, query }], tag);
}

/**
 * As bulkFetch, for several FETCHes written at once (pipelined: one round trip for all of them) and
 * read as they come. Each UID belongs to one FETCH, which says what its answer must carry; the
 * download ends when the server has answered every FETCH. If it refused any, the MailServiceError
 * (kind 'input') comes after all have been answered, and the session is usable.
 */
export async function* bulkFetchPipelined(
	client: ImapFlow,
	requests: BulkRequest[],
	tag = `M365B${Date.now().toString(36)}`,
): AsyncGenerator<BulkMessage[]> {
	const asked = requests.filter((r) => r.uids.length);
	if (!asked.length) return;
	/** What each UID's answer must carry. */
	const wanted = new Map<number, BulkQuery>();
	for (const request of asked) {
		for (const uid of request.uids) {
			if (wanted.has(uid)) throw new Error('bulkFetch: a UID in two FETCHes');
			wanted.set(uid, request.query);
		}
	}
	// The first FETCH's tag is `tag`, the others `tag.2`, `tag.3`…
	const tags = asked.map((_, i) => (i ? `${tag}.${i + 1}` : tag));
	const commands = asked
		.map((r, i) => `${tags[i]} UID FETCH ${uidSet(r.uids)} ${itemsOf(r)}\r\n`)
		.join('');
	const session = borrowable(client);
	if (!session) throw new Error('bulkFetch: the IMAP session is busy');
	const { read, write, streamer } = session;
	const waiting = new Set(tags);
	let refusal: string | undefined;

	let queue: BulkMessage[] = [];
	let queuedBytes = 0;
	let finished = false;
	let failure: Error | undefined;
	let wake: (() => void) | undefined;
	const notify = () => {
		const w = wake;
		wake = undefined;
		w?.();
	};

	// The reader: lines and literals, then whole responses.
	let pending: Buffer[] = [];
	let pendingBytes = 0;
	let segments: Array<string | Buffer> = [];
	let raw: Buffer[] = [];
	let literalLeft = 0;
	let literalParts: Buffer[] = [];

	const finishResponse = () => {
		const message = messageOf(segments, (uid) => wanted.get(uid));
		if (message) {
			queue.push(message);
			queuedBytes += message.source?.length ?? sizeOfParts(message);
			if (queuedBytes > HIGH_WATER_BYTES) read.pause();
			notify();
		} else {
			const head = typeof segments[0] === 'string' ? segments[0] : '';
			const answered = tags.find((t) => waiting.has(t) && head.startsWith(`${t} `));
			if (answered) {
				waiting.delete(answered);
				const status = head.slice(answered.length + 1).trim();
				if (!/^OK\b/i.test(status)) refusal ??= status.replace(/[\r\n]+/g, ' ').slice(0, 300);
				if (!waiting.size) {
					if (refusal === undefined) finished = true;
					else failure = new Refused(refusal);
				}
				notify();
			} else {
				// Not ours: imapflow reads it as if it had come to it (EXISTS, EXPUNGE, BYE…).
				streamer.write(Buffer.concat(raw));
			}
		}
		segments = [];
		raw = [];
	};

	let leftover: Buffer | undefined;
	const onData = (chunk: Buffer) => {
		let pos = 0;
		while (pos < chunk.length) {
			if (finished || failure) {
				// After our tagged answer: what follows belongs to imapflow again.
				leftover = leftover ? Buffer.concat([leftover, chunk.subarray(pos)]) : chunk.subarray(pos);
				return;
			}
			if (literalLeft > 0) {
				const take = Math.min(literalLeft, chunk.length - pos);
				const part = chunk.subarray(pos, pos + take);
				literalParts.push(part);
				raw.push(part);
				literalLeft -= take;
				pos += take;
				if (literalLeft === 0) {
					segments.push(
						literalParts.length === 1 ? Buffer.from(literalParts[0]) : Buffer.concat(literalParts),
					);
					literalParts = [];
				}
				continue;
			}
			const nl = chunk.indexOf(10, pos);
			if (nl < 0) {
				pending.push(chunk.subarray(pos));
				pendingBytes += chunk.length - pos;
				if (pendingBytes > MAX_LINE_BYTES) fail(new Error('a response line over 1 MB'));
				return;
			}
			const piece = chunk.subarray(pos, nl + 1);
			const lineBuffer = pending.length ? Buffer.concat([...pending, piece]) : piece;
			pending = [];
			pendingBytes = 0;
			pos = nl + 1;
			raw.push(Buffer.from(lineBuffer));
			const line = lineBuffer.toString('latin1');
			const literal = /~?\{(\d+)\+?\}\r?\n$/.exec(line);
			segments.push(line);
			if (literal) {
				literalLeft = Number(literal[1]);
				if (!Number.isSafeInteger(literalLeft)) fail(new Error('a literal of impossible size'));
				if (literalLeft === 0) segments.push(Buffer.alloc(0));
				continue;
			}
			finishResponse();
		}
	};
	const fail = (error: Error) => {
		if (!failure) failure = error;
		notify();
	};
	const onClose = () => fail(new Error('the connection closed'));
	const onError = (error: Error) => fail(error);

	// Borrow: imapflow's reader off the socket, ours on; the command written as imapflow would.
	read.unpipe(streamer);
	read.on('data', onData);
	read.on('end', onClose);
	read.on('close', onClose);
	read.on('error', onError);
	read.resume();
	let given = false;
	/** Our reader off the socket; at a command boundary, imapflow's back on it with what followed. */
	const giveBack = (atBoundary: boolean) => {
		if (given) return;
		given = true;
		read.removeListener('data', onData);
		read.removeListener('end', onClose);
		read.removeListener('close', onClose);
		read.removeListener('error', onError);
		if (!atBoundary) return;
		read.pause();
		if (leftover?.length) streamer.write(leftover);
		read.pipe(streamer);
	};
	try {
		write.write(commands);
		for (;;) {
			if (queue.length) {
				const taken = queue;
				queue = [];
				queuedBytes = 0;
				if (read.isPaused() && !finished && !failure) read.resume();
				yield taken;
				continue;
			}
			if (failure || finished) break;
			await new Promise<void>((resolve) => (wake = resolve));
		}
		if (failure instanceof Refused) {
			giveBack(true);
			throw new MailServiceError(
				`The IMAP server refused the download: ${failure.message}`,
				'Try again; if it keeps failing, a message in the folder may be damaged.',
				'input',
			);
		}
		if (failure) {
			throw new MailServiceError(
				`The IMAP connection failed during the download: ${failure.message}`,
				'Nothing was lost: the next poll or run starts again from the same place.',
				'network',
				'ECONNRESET',
			);
		}
	} finally {
		if (finished || failure instanceof Refused) giveBack(true);
		else if (!given) {
			// Stopped early or broken: the session is mid-answer, never to be given back. Closed.
			giveBack(false);
			(client as unknown as { close(): void }).close();
		}
	}
}

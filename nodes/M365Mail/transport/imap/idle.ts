/**
 * A folder watched over IMAP IDLE: one session of its own stays in IDLE and reports when mail may
 * have arrived. Every few minutes IDLE is broken for a NOOP, which the server must answer in time:
 * that keeps the session under the server's timeout, and a session that went silent (a NAT,
 * firewall or proxy that lost the connection without closing it, a server that hangs) is closed and
 * replaced instead of waited on. The session is also replaced before its token expires (Exchange ends
 * it with `BYE ... AccessTokenExpired`), and a lost session is opened again with a bounded backoff.
 * After every (re)connect `onChange` is called, so the caller catches up on what arrived meanwhile.
 */
import type { ImapFlow } from 'imapflow';

import { MailServiceError } from '../auth/errors';
import type { ChangeHandlers, FolderWatch } from '../mailbox';
import { resolveFolder } from './folders';
import {
	answersWithin,
	endSession,
	openImapSession,
	SILENCE_FIX,
	type ImapSessionOptions,
} from './session';

/** How the IDLE session is kept. Module state, so that a test can shorten it (instant.test.ts). */
export const idleTiming = {
	/** IDLE is broken for a NOOP this often: far under Exchange's 29 minutes (a round trip a minute). */
	checkMs: 60_000,
	/** The NOOP must be answered this fast, or the session is given up as silent. */
	answerMs: 10_000,
	/** A session is replaced this often, before its access token (60-90 minutes) expires. */
	renewMs: 45 * 60_000,
	maxBackoffMs: 60_000,
};

/** Starts watching `folder`; resolves once the first session is in IDLE, or rejects with its error. */
export async function watchFolderIdle(
	session: ImapSessionOptions,
	folder: string,
	handlers: ChangeHandlers,
): Promise<FolderWatch> {
	let stopped = false;
	let client: ImapFlow | undefined;
	let wake: (() => void) | undefined;
	const sleep = (ms: number) =>
		new Promise<void>((resolve) => {
			const timer = setTimeout(resolve, ms);
			wake = () => {
				clearTimeout(timer);
				resolve();
			};
		});

	/** Opens a session on the folder; resolves when it is selected. */
	const open = async (): Promise<ImapFlow> => {
		// The socket timeout is the last resort: the NOOP check notices a silent session first.
		const opened = await openImapSession({ ...session, socketTimeoutMs: 2 * idleTiming.checkMs });
		try {
			const target = await resolveFolder(opened, session.mailbox, folder);
			await opened.mailboxOpen(target.serverPath, { readOnly: true });
		} catch (error) {
			await endSession(opened);
			throw error;
		}
		opened.on('exists', () => handlers.onChange());
		return opened;
	};

	/** IDLE until the session ends, goes silent or is due for renewal. */
	const idle = async (current: ImapFlow): Promise<void> => {
		const renewAt = Date.now() + idleTiming.renewMs;
		const closed = new Promise<void>((resolve) => current.once('close', () => resolve()));
		while (!stopped && current.usable && Date.now() < renewAt) {
			// IDLE ends when the NOOP breaks it (or the connection closes).
			const idling = current.idle().catch(() => undefined);
			await Promise.race([sleep(idleTiming.checkMs), closed]);
			wake?.(); // the pause's timer, when the close came first
			if (stopped || !current.usable) break; // closed (imapflow marks it unusable first)
			if (!(await answersWithin(current, idleTiming.answerMs))) {
				if (stopped) break;
				current.close();
				throw new MailServiceError(
					`The IMAP session watching the folder did not answer a NOOP within ${idleTiming.answerMs / 1000} s: the connection went silent (a NAT, firewall or proxy on the way may have dropped it without closing it)`,
					`Nothing to do: the trigger signs in again and looks for mail it has not emitted yet. ${SILENCE_FIX}`,
					'network',
				);
			}
			await Promise.race([idling, closed]);
		}
		await endSession(current);
	};

	client = await open();
	const loop = async (first: ImapFlow) => {
		let current: ImapFlow | undefined = first;
		let attempt = 0;
		while (!stopped) {
			try {
				current ??= await open();
				client = current;
				attempt = 0;
				handlers.onChange();
				await idle(current);
			} catch (error) {
				if (stopped) break;
				attempt++;
				const retryInMs = Math.min(1000 * 2 ** (attempt - 1), idleTiming.maxBackoffMs);
				handlers.onTrouble(error as Error, attempt, retryInMs);
				await sleep(retryInMs);
			}
			current = undefined;
		}
	};
	const running = loop(client);
	return {
		// Closing the session ends its IDLE; the loop opens a new one on the folder as it is now.
		renew: () => client?.close(),
		async stop() {
			stopped = true;
			wake?.();
			const last = client;
			if (last) await endSession(last);
			await running;
		},
	};
}

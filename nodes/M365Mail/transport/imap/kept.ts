/**
 * IMAP sessions kept between the polls of one trigger. Opening a session is a TLS handshake and an
 * XOAUTH2 sign-in (several round trips to Exchange Online, and a fifth of a poll's time on the local
 * stack: bench/README.md); a trigger that polls every minute or two reuses its session instead.
 *
 * A kept session is reused only by the same trigger (the caller's key names the workflow, the node,
 * the mailbox and the endpoint), only while the credential still gives the same access token (a
 * refreshed, re-connected or changed credential opens a new session; the token itself is never kept,
 * only its SHA-256), and only after it answers within PROBE_TIMEOUT_MS (a connection that a network
 * device dropped silently is replaced, not waited on), and for MAX_SESSION_AGE_MS at most. A session
 * nobody took back within KEEP_IDLE_MS is logged out. Kept sessions never keep the process alive.
 *
 * A session is kept with its poll's folder still selected, and the next poll leaves the folder as
 * its probe (UNSELECT, or CLOSE where the folder was opened read-only): one round trip that both
 * proves the session answers and leaves it ready to select the folder afresh, where a NOOP then an
 * UNSELECT at the end of the poll before took two (a round trip to Exchange Online is tens of ms).
 */
import { createHash } from 'node:crypto';

import type { ImapFlow } from 'imapflow';

import { answersWithin, endSession, isBusy } from './session';

/**
 * How long a session waits for the next poll: a poll every minute or two reuses it. Shorter than
 * Azure's default idle timeout for TCP flows (4 minutes), past which a connection may be dropped
 * without either side being told.
 */
export const KEEP_IDLE_MS = 3 * 60_000;

/** A kept session must answer a NOOP this fast to be reused. */
export const PROBE_TIMEOUT_MS = 10_000;

/**
 * A session signs in again at least this often: a permission taken away (FullAccess on a shared
 * mailbox) is checked at sign-in, and reaches a kept session only then.
 */
export const MAX_SESSION_AGE_MS = 15 * 60_000;

/** When each kept session was first kept (about when it signed in: the end of its first poll). */
const firstKept = new WeakMap<ImapFlow, number>();

interface Kept {
	client: ImapFlow;
	token: string;
	timer: NodeJS.Timeout;
}

const kept = new Map<string, Kept>();

/** What is kept of the token a session signed in with: its SHA-256, never the token. */
export function tokenFingerprint(token: string): string {
	return createHash('sha256').update(token).digest('hex');
}

/** A kept session's socket must not keep n8n (or a test) running; one in use must. */
function holdProcess(client: ImapFlow, hold: boolean): void {
	const socket = (client as unknown as { socket?: { ref?(): void; unref?(): void } }).socket;
	if (hold) socket?.ref?.();
	else socket?.unref?.();
}

function end(client: ImapFlow): void {
	void endSession(client);
}

/**
 * The session kept under `key`, if it signed in with this token and still answers; it leaves the
 * keep (one user at a time). A kept session that does not qualify is closed.
 */
export async function takeKept(key: string, token: string): Promise<ImapFlow | undefined> {
	const entry = kept.get(key);
	if (!entry) return undefined;
	kept.delete(key);
	clearTimeout(entry.timer);
	const { client } = entry;
	holdProcess(client, true);
	const young = Date.now() - (firstKept.get(client) ?? 0) < MAX_SESSION_AGE_MS;
	// A session kept with a folder selected answers by leaving it; one without, a NOOP. One that
	// answered and still has a folder selected (the server refused to leave it) is not used.
	const session = client as unknown as SelectingSession;
	const leave = async () => {
		await session.run('CLOSE', { unselect: true });
		return client.usable;
	};
	if (
		entry.token === token &&
		young &&
		client.usable &&
		canDeselect(client) &&
		(await answersWithin(client, PROBE_TIMEOUT_MS, session.mailbox ? leave : undefined)) &&
		!session.mailbox
	)
		return client;
	// Stale (another token, too old), closed by the server, or silent: a fresh session replaces it.
	client.close();
	return undefined;
}

interface SelectingSession {
	mailbox?: false | { readOnly?: boolean };
	run(command: 'CLOSE', options: { unselect: true }): Promise<boolean | undefined>;
}

/**
 * Whether the session's selected folder (if any) can be left later without removing anything:
 * nothing is in flight, and the folder was opened read-only or the server has UNSELECT (CLOSE on a
 * folder opened for changes expunges the messages flagged \Deleted). The next poll leaves it so
 * that it selects the folder afresh: only SELECT reports a folder's current UIDVALIDITY (a folder
 * deleted and created again meanwhile).
 */
export function canDeselect(client: ImapFlow): boolean {
	const session = client as unknown as SelectingSession;
	if (!session.mailbox) return true;
	if (isBusy(client)) return false;
	return session.mailbox.readOnly === true || client.capabilities.has('UNSELECT');
}

/** Keeps a session that is still usable for the next poll under `key` (replacing a kept one). */
export function keepSession(key: string, token: string, client: ImapFlow): boolean {
	if (!client.usable) return false;
	const previous = kept.get(key);
	if (previous && previous.client !== client) {
		clearTimeout(previous.timer);
		end(previous.client);
	}
	const timer = setTimeout(() => {
		if (kept.get(key)?.client !== client) return;
		kept.delete(key);
		end(client);
	}, KEEP_IDLE_MS);
	timer.unref();
	holdProcess(client, false);
	if (!firstKept.has(client)) firstKept.set(client, Date.now());
	kept.set(key, { client, token, timer });
	return true;
}

/** How many sessions are kept now (for tests). */
export function keptSessions(): number {
	return kept.size;
}

/**
 * IMAP sessions kept between the polls of one trigger. Opening a session is a TLS handshake and an
 * XOAUTH2 sign-in (several round trips to Exchange Online, and a fifth of a poll's time on the local
 * stack: bench/README.md); a trigger that polls every minute or two reuses its session instead.
 *
 * A kept session is reused only by the same trigger (the caller's key names the workflow, the node,
 * the mailbox and the endpoint), only while the credential still gives the same access token (a
 * refreshed, re-connected or changed credential opens a new session; the token itself is never kept,
 * only its SHA-256), and only after it answers a NOOP within PROBE_TIMEOUT_MS (a connection that a
 * network device dropped silently is replaced, not waited on), and for MAX_SESSION_AGE_MS at most. A
 * session nobody took back within KEEP_IDLE_MS is logged out. Kept sessions never keep the process
 * alive.
 */
import { createHash } from 'node:crypto';

import type { ImapFlow } from 'imapflow';

import { within } from '../within';
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
	if (
		entry.token === token &&
		young &&
		client.usable &&
		(await answersWithin(client, PROBE_TIMEOUT_MS))
	)
		return client;
	// Stale (another token, too old), closed by the server, or silent: a fresh session replaces it.
	client.close();
	return undefined;
}

/**
 * Leaves the selected folder, removing nothing, so that the next poll selects it afresh: only SELECT
 * reports a folder's current UIDVALIDITY (a folder deleted and created again meanwhile). UNSELECT;
 * CLOSE only where the folder was opened read-only, since CLOSE on a folder opened for changes
 * expunges the messages flagged \Deleted. False when the session cannot be left clean.
 */
export async function deselect(client: ImapFlow): Promise<boolean> {
	const session = client as unknown as {
		mailbox?: false | { readOnly?: boolean };
		run(command: 'CLOSE', options: { unselect: true }): Promise<boolean | undefined>;
	};
	if (!session.mailbox) return true;
	if (isBusy(client)) return false;
	if (!session.mailbox.readOnly && !client.capabilities.has('UNSELECT')) return false;
	// Bounded: a session that went silent is not waited on (the caller then closes it).
	const done = await within(session.run('CLOSE', { unselect: true }), PROBE_TIMEOUT_MS, false);
	return done === true && !session.mailbox && client.usable;
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

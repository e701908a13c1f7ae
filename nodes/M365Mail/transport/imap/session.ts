/**
 * Opens an authenticated IMAP session over XOAUTH2 with the rules imapflow needs: an `error`
 * listener always, no auto-IDLE, connect and socket timeouts, and one retry with a freshly
 * refreshed token after an authentication failure.
 */
import { MAX_MESSAGE_BYTES } from '../types';
import { assertMailboxAllowed } from '../auth/mailboxes';
// Types only at load time: imapflow (and its logger) is required on first connection.
import type { ImapFlow } from 'imapflow';

import { lazy } from '../lazy';
import { within } from '../within';

import { requireHost, type CloudEndpoints } from '../auth/clouds';
import { mapImapAuthError, mapNetworkError, type ImapErrorLike } from '../auth/connectionErrors';
import { MailServiceError } from '../auth/errors';
import type { AccessTokenProvider } from '../auth/tokens';

const loadImapflow = lazy(() => import('imapflow'));

export interface ImapSessionOptions {
	cloud: CloudEndpoints;
	tokens: AccessTokenProvider;
	/** App-only: the mailboxes the credential allows (undefined: any). */
	allowedMailboxes?: string[];
	/** The mailbox to open (`user=` of XOAUTH2): the signed-in user's or a shared one. */
	mailbox: string;
	allowUnauthorizedCerts?: boolean;
	connectionTimeoutMs?: number;
	socketTimeoutMs?: number;
	/** Called with errors the client emits after connecting (socket resets...). */
	onError?: (error: Error) => void;
}

/**
 * How long a session may be silent while a command waits for its answer before it is given up
 * (imapflow's socket timeout). Module state so that a test can shorten it; nothing else changes it.
 */
export const sessionTiming = { socketTimeoutMs: 5 * 60_000 };

/** The fix named when a session went silent, after what the trigger does about it itself. */
export const SILENCE_FIX =
	'If this repeats, check the network between n8n and the mail server (idle timeouts of NAT gateways, firewalls and proxies).';

/** Sessions imapflow gave up on because a command's answer did not come (its socket timeout). */
const gaveUp = new WeakMap<ImapFlow, number>();

/**
 * The error to show for a session given up on because the server went silent during `what`, or
 * undefined if it was not (imapflow's own errors then say only "Connection not available").
 */
export function silenceError(client: ImapFlow, what: string): MailServiceError | undefined {
	const ms = gaveUp.get(client);
	if (ms === undefined) return undefined;
	const time = ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
	return new MailServiceError(
		`The IMAP server did not answer during ${what} for ${time}: the connection went silent`,
		`Nothing was lost: the next poll or run starts again from the same place. ${SILENCE_FIX}`,
		'network',
		'ETIMEOUT',
	);
}

/** Open sessions by server (host:port): a silence found on one ends the silent waits of the others. */
const openSessions = new Map<string, Set<ImapFlow>>();
const sameServer = new WeakMap<ImapFlow, Set<ImapFlow>>();

/** Counts the session among its server's open ones until it closes (exported for the unit tests). */
export function trackSession(client: ImapFlow, server: string): void {
	const sessions = openSessions.get(server) ?? new Set<ImapFlow>();
	openSessions.set(server, sessions.add(client));
	sameServer.set(client, sessions);
	client.on('close', () => {
		sessions.delete(client);
		if (sessions.size === 0 && openSessions.get(server) === sessions) openSessions.delete(server);
	});
}

/** The other sessions to this session's server with a command in flight, and what each has received. */
function waitingPeers(client: ImapFlow): Array<{ peer: ImapFlow; received: number }> {
	return [...(sameServer.get(client) ?? [])]
		.filter((peer) => peer !== client && peer.usable && isBusy(peer))
		.map((peer) => ({ peer, received: peer.stats().received }));
}

/** For `.catch()`: an error of a session the server went silent on is shown as such. */
export const explainSilence =
	(client: ImapFlow, what: string) =>
	(error: unknown): never => {
		throw (error instanceof MailServiceError ? undefined : silenceError(client, what)) ?? error;
	};

async function createClient(options: ImapSessionOptions, accessToken: string): Promise<ImapFlow> {
	const { ImapFlow } = await loadImapflow();
	const { cloud } = options;
	const host = requireHost(cloud, 'IMAP');
	const socketTimeout = options.socketTimeoutMs ?? sessionTiming.socketTimeoutMs;
	const client = new ImapFlow({
		host,
		port: cloud.imapPort,
		secure: cloud.imapTls === 'tls',
		doSTARTTLS: cloud.imapTls === 'starttls' ? true : undefined,
		// No servername: imapflow sends the host as SNI and checks the certificate against it, and
		// leaves SNI out for an IP address (Node warns with DEP0123 when one is set as a servername).
		auth: { user: options.mailbox, accessToken },
		tls: { rejectUnauthorized: options.allowUnauthorizedCerts !== true, minVersion: 'TLSv1.2' },
		logger: false,
		disableAutoIdle: true,
		// No literal beyond the largest message we read (polls skip larger ones by their size first).
		maxLiteralSize: MAX_MESSAGE_BYTES + 1024 * 1024,
		connectionTimeout: options.connectionTimeoutMs ?? 30_000,
		greetingTimeout: 16_000,
		socketTimeout,
		emitLogs: false,
	});
	// imapflow emits 'error' on socket failures; without a listener the process would crash.
	client.on('error', (error: Error & { code?: string }) => {
		if (error.code === 'ETIMEOUT') gaveUp.set(client, socketTimeout);
		options.onError?.(error);
	});
	return client;
}

function isAuthFailure(error: ImapErrorLike): boolean {
	const text = `${error.responseText ?? ''} ${error.message ?? ''}`;
	return (
		error.authenticationFailed === true ||
		/AUTHENTICATE failed|AUTHENTICATIONFAILED|Authentication failed|Temporary authentication failure/i.test(
			text,
		)
	);
}

/** Connects and authenticates; the caller must `logout()` the client in `finally`. */
export async function openImapSession(options: ImapSessionOptions): Promise<ImapFlow> {
	const mailbox = options.mailbox.trim();
	// It becomes the XOAUTH2 `user=` field, separated by \x01: no control characters.
	if (!/^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+$/u.test(mailbox)) {
		throw new MailServiceError(
			`The mailbox (${mailbox.length} characters) is not a mailbox address`,
			'Enter the mailbox as an email address (UPN), for example shared@contoso.com.',
			'mailboxAccess',
		);
	}
	assertMailboxAllowed(options.allowedMailboxes, mailbox);
	const appOnly = options.tokens.kind === 'appOnly';
	let refusal: MailServiceError | undefined;
	for (let attempt = 0; ; attempt++) {
		let token: string;
		try {
			token = await options.tokens.getAccessToken('outlook', { forceRefresh: attempt > 0 });
		} catch (error) {
			if (!refusal || !(error instanceof MailServiceError)) throw error;
			// Both matter: why the server refused the token, and why a new one could not be had.
			throw new MailServiceError(
				`${refusal.message}; getting a new token to try again failed too: ${error.message}`,
				`${refusal.fix} Then: ${error.fix}`,
				error.kind,
				[refusal.code, error.code].filter(Boolean).join(', ') || undefined,
			);
		}
		const client = await createClient({ ...options, mailbox }, token);
		try {
			await client.connect();
			trackSession(client, `${client.host}:${client.port}`);
			return client;
		} catch (error) {
			client.close();
			const e = error as ImapErrorLike;
			// A token can be refused while still unexpired (revoked, clock skew): refresh once and retry.
			if (isAuthFailure(e) && attempt === 0) {
				refusal = mapImapAuthError(e, mailbox, appOnly);
				continue;
			}
			if (isAuthFailure(e) || /not connected/i.test(`${e.responseText ?? ''} ${e.message ?? ''}`)) {
				throw mapImapAuthError(e, mailbox, appOnly);
			}
			throw mapNetworkError(e as Error & { code?: string }, 'IMAP');
		}
	}
}

/**
 * Whether the session answers a NOOP (or what `ask` sends, true when answered) within `ms`. A
 * connection that a NAT, firewall or proxy lost without closing it stays open and silent: a command
 * on it would wait for the socket timeout.
 */
export async function answersWithin(
	client: ImapFlow,
	ms: number,
	ask: () => Promise<boolean> = async () => {
		await client.noop();
		return client.usable;
	},
): Promise<boolean> {
	const peers = waitingPeers(client);
	const answered = await within(ask(), ms, false);
	if (!answered) {
		silences++;
		// A session to the same server that has waited on a command all this time without a byte is
		// on the same lost way: given up now, not at its socket timeout minutes later.
		for (const { peer, received } of peers) {
			if (!peer.usable || !isBusy(peer) || peer.stats().received !== received) continue;
			gaveUp.set(peer, ms);
			peer.close();
		}
	}
	return answered;
}

/** A command is in flight (IDLE aside): another one would wait its turn. */
export function isBusy(client: ImapFlow): boolean {
	const busy = (client as { connectionBusy?(): boolean }).connectionBusy?.() ?? true;
	return busy && !client.idling;
}

/**
 * Logs out (after a command in flight, which a LOGOUT waits behind), or closes the connection
 * without a goodbye when the server has not answered in `ms`: a silent connection would otherwise
 * hold the LOGOUT until the socket timeout, minutes later.
 */
export async function endSession(client: ImapFlow, ms = 3_000): Promise<void> {
	await within(client.logout(), ms, undefined);
	client.close();
}

/** A session that sat unused this long, with nothing in flight, must answer a NOOP to be used again. */
export const QUIET_MS = 30_000;
/** Sessions found silent so far: when one is, the way to the server may have failed for all. */
let silences = 0;
/** When each session was last handed to a caller, and how many had been found silent by then. */
const lastUsed = new WeakMap<ImapFlow, { at: number; silences: number }>();

/** Notes that the session is being handed to a caller now. */
export function markUsed(client: ImapFlow): ImapFlow {
	lastUsed.set(client, { at: Date.now(), silences });
	return client;
}

/**
 * Whether a session may be used again: it is usable, and if it sat unused for QUIET_MS, or since
 * another session was found silent, with nothing in flight, it answered a NOOP within `ms` (a
 * silent one would hold the next command until the socket timeout, minutes later). A busy session
 * is not asked: its NOOP would wait its turn.
 */
export async function stillAnswers(client: ImapFlow, ms: number): Promise<boolean> {
	if (!client.usable) return false;
	const used = lastUsed.get(client) ?? { at: Date.now(), silences };
	const quiet = Date.now() - used.at >= QUIET_MS || used.silences < silences;
	if (quiet && !isBusy(client) && !(await answersWithin(client, ms))) return false;
	markUsed(client);
	return true;
}

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
	/** A session that stays in IDLE: IDLE is broken and entered again this often (before the server's timeout). */
	maxIdleTimeMs?: number;
	/** Called with errors the client emits after connecting (socket resets...). */
	onError?: (error: Error) => void;
}

async function createClient(options: ImapSessionOptions, accessToken: string): Promise<ImapFlow> {
	const { ImapFlow } = await loadImapflow();
	const { cloud } = options;
	const host = requireHost(cloud, 'IMAP');
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
		socketTimeout: options.socketTimeoutMs ?? 5 * 60_000,
		emitLogs: false,
		...(options.maxIdleTimeMs ? { maxIdleTime: options.maxIdleTimeMs } : {}),
	});
	// imapflow emits 'error' on socket failures; without a listener the process would crash.
	client.on('error', (error: Error) => options.onError?.(error));
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

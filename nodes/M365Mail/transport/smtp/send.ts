/**
 * Sends composed MIME over SMTP with XOAUTH2 (587 STARTTLS by default). A send is never retried
 * after the server accepted the sign-in: only a refused sign-in is tried once more with a fresh token.
 */

import { lazy } from '../lazy';
import { requireHost, type CloudEndpoints } from '../auth/clouds';
import { mapSmtpError } from '../auth/connectionErrors';
import { MailServiceError } from '../auth/errors';
import type { AccessTokenProvider } from '../auth/tokens';
import type { ComposedMessage } from '../mime/compose';
import { assertMailboxAllowed } from '../auth/mailboxes';

const loadNodemailer = lazy(() => import('nodemailer'));

export interface SmtpSendOptions {
	cloud: CloudEndpoints;
	tokens: AccessTokenProvider;
	/** The account that signs in: the signed-in user (delegated) or the mailbox (app-only). */
	user: string;
	allowUnauthorizedCerts?: boolean;
	/** App-only: the mailboxes the credential allows (undefined: any). */
	allowedMailboxes?: string[];
}

export interface SmtpSendResult {
	accepted: string[];
	rejected: string[];
	response: string;
	messageId: string;
}

interface SmtpErrorLike {
	code?: string;
	responseCode?: number;
	response?: string;
	message?: string;
}

/** Sends one composed message; throws a MailServiceError that names the fix. */
export async function sendComposedMessage(
	options: SmtpSendOptions,
	message: ComposedMessage,
): Promise<SmtpSendResult> {
	const { cloud } = options;
	assertMailboxAllowed(options.allowedMailboxes, options.user);
	const host = requireHost(cloud, 'SMTP');
	for (let attempt = 0; ; attempt++) {
		const accessToken = await options.tokens.getAccessToken('outlook', {
			forceRefresh: attempt > 0,
		});
		// Required on first send: n8n loads every node file when it starts.
		const { createTransport } = await loadNodemailer();
		const transport = createTransport({
			host,
			port: cloud.smtpPort,
			secure: cloud.smtpTls === 'tls',
			requireTLS: cloud.smtpTls !== 'tls',
			auth: { type: 'OAuth2', user: options.user, accessToken },
			// No servername: nodemailer sends the host as SNI, and none for an IP address (DEP0123).
			tls: {
				rejectUnauthorized: options.allowUnauthorizedCerts !== true,
				minVersion: 'TLSv1.2',
			},
			connectionTimeout: 30_000,
			// As IMAP's: Exchange greets at once, and a TLS port set to STARTTLS never does.
			greetingTimeout: 16_000,
			socketTimeout: 120_000,
			logger: false,
		});
		try {
			const info = await transport.sendMail({ envelope: message.envelope, raw: message.raw });
			return {
				accepted: (info.accepted ?? []).map(String),
				rejected: (info.rejected ?? []).map(String),
				response: info.response,
				messageId: message.messageId,
			};
		} catch (error) {
			const e = error as SmtpErrorLike;
			// EAUTH happens before any message data: trying again cannot send twice.
			if (e.code === 'EAUTH' && attempt === 0 && options.tokens.kind === 'delegated') continue;
			if (error instanceof MailServiceError) throw error;
			throw mapSmtpError(e, options.user);
		} finally {
			transport.close();
		}
	}
}

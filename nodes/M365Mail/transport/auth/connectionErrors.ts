/**
 * IMAP, SMTP and connection failures (sign-in refusals, TLS, ports, sockets), turned into messages
 * that name the fix; Microsoft's sign-in errors are in errors.ts. Nothing here echoes a token.
 */
import { MailServiceError } from './errors';

/** The fields of an imapflow error we read (imapflow sets these on failed commands). */
export interface ImapErrorLike {
	message?: string;
	code?: string;
	responseText?: string;
	response?: string;
	serverResponseCode?: string;
	authenticationFailed?: boolean;
	responseStatus?: string;
}

/** Maps an IMAP login failure to the fix Exchange Online needs. */
export function mapImapAuthError(
	error: ImapErrorLike,
	mailbox: string,
	appOnly: boolean,
): MailServiceError {
	const text = `${error.responseText ?? ''} ${error.response ?? ''} ${error.message ?? ''}`;
	if (/authenticated but not connected/i.test(text)) {
		return new MailServiceError(
			`Signed in, but the account has no access to the mailbox ${mailbox}`,
			appOnly
				? `Give the app's service principal FullAccess: Add-MailboxPermission -Identity ${mailbox} -User <service principal id> -AccessRights FullAccess.`
				: `Give the signed-in user FullAccess to ${mailbox} (Exchange admin center > Mailboxes > Delegation), or correct the Mailbox parameter.`,
			'mailboxAccess',
			'IMAP BAD User is authenticated but not connected',
		);
	}
	if (
		error.authenticationFailed ||
		/AUTHENTICATE failed|AUTHENTICATIONFAILED|authentication failed|Temporary authentication failure/i.test(
			text,
		)
	) {
		return new MailServiceError(
			`IMAP sign-in to ${mailbox} failed (AUTHENTICATE failed)`,
			appOnly
				? 'Check that the app has the IMAP.AccessAsApp permission (Office 365 Exchange Online) with admin consent, that New-ServicePrincipal used the Object ID of the ENTERPRISE APPLICATION (not of the app registration), that Add-MailboxPermission gave it FullAccess on this mailbox, and that IMAP is enabled for the mailbox.'
				: 'Check that the credential uses IMAP + SMTP access (scope IMAP.AccessAsUser.All), that the mailbox address is right and the signed-in user has access to it, and that IMAP is enabled for the mailbox (Microsoft 365 admin center > Users > Mail > Manage email apps). Reconnect the credential if it was changed.',
			'protocolDisabled',
			'IMAP NO AUTHENTICATE failed',
		);
	}
	return mapNetworkError(error, 'IMAP');
}

/** Maps an SMTP failure (nodemailer error) to a fix. */
export function mapSmtpError(
	error: {
		responseCode?: number;
		response?: string;
		message?: string;
		code?: string;
		/** nodemailer: the socket's own code (ERR_TLS_CERT_ALTNAME_INVALID…) under its ESOCKET. */
		originalCode?: string;
	},
	mailbox: string,
): MailServiceError {
	const text = `${error.response ?? ''} ${error.message ?? ''}`;
	if (error.responseCode === 535 || /\b535\b/.test(text)) {
		return new MailServiceError(
			`SMTP sign-in for ${mailbox} was refused (535)`,
			'Enable SMTP AUTH for the mailbox (Set-CASMailbox -Identity <mailbox> -SmtpClientAuthenticationDisabled $false, or Microsoft 365 admin center > Users > Mail > Manage email apps > Authenticated SMTP), use the mailbox UPN, and make sure the credential has the SMTP.Send scope.',
			'protocolDisabled',
			'SMTP 535 5.7.3',
		);
	}
	if (/SendAsDenied|5\.2\.252|5\.7\.60/.test(text)) {
		return new MailServiceError(
			`${mailbox} may not send as the given From address`,
			'Grant "Send As" on that address to the signed-in user or app, or send from the mailbox itself.',
			'mailboxAccess',
			'SMTP 554 5.2.252 SendAsDenied',
		);
	}
	return mapNetworkError(
		{ message: error.message, code: error.originalCode ?? error.code },
		'SMTP',
	);
}

/** Error codes of a request that got no answer: refused, reset, unreachable, or a TLS failure. */
export function isNetworkErrorCode(code: string | undefined): boolean {
	return (
		!!code &&
		/^(ECONN|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|EPROTO|ERR_SSL|ERR_TLS|CERT_|UNABLE_TO|SELF_SIGNED|DEPTH_ZERO|UND_ERR)/.test(
			code,
		)
	);
}

/** The standard ports of each security setting, named in fixes. */
const PORTS = {
	IMAP: { startTls: 'IMAP 143', tls: 'IMAP 993' },
	SMTP: { startTls: 'SMTP 587', tls: 'SMTP 465' },
} as const;

/** A security setting that does not fit the server or the port; undefined for other failures. */
function mapSecurityError(
	code: string,
	text: string,
	protocol: 'IMAP' | 'SMTP',
): MailServiceError | undefined {
	const ports = PORTS[protocol];
	// Set to STARTTLS, and the server did not upgrade: nothing was signed in or sent.
	if (/STARTTLS/i.test(text)) {
		return new MailServiceError(
			`${protocol}: the server did not start TLS (STARTTLS), so the connection was closed before signing in: nothing, not the token either, was sent in the clear`,
			`Check the ${protocol} port and security of the cloud setting: STARTTLS needs a server that offers it (${ports.startTls}); a port that starts with TLS (${ports.tls}) needs the security "TLS". If the server does offer STARTTLS, something between n8n and it removed the offer.`,
			'network',
			code || 'STARTTLS',
		);
	}
	// Security "TLS" on a port that starts in plain text: OpenSSL reads the greeting as a record.
	if (
		/wrong version number|WRONG_VERSION_NUMBER|packet length too long|unknown protocol/i.test(
			code + text,
		)
	) {
		return new MailServiceError(
			`${protocol}: the server did not answer in TLS on this port: it starts in plain text`,
			`Set the ${protocol} security of the cloud setting to STARTTLS for this port (${ports.startTls}), or use the port that starts with TLS (${ports.tls}).`,
			'network',
			code || 'ERR_SSL_WRONG_VERSION_NUMBER',
		);
	}
	// Security "STARTTLS" on a port that starts with TLS: both sides wait for the other.
	if (/GREETING_TIMEOUT|greeting/i.test(code + text)) {
		return new MailServiceError(
			`${protocol}: the server sent no greeting in time`,
			`A port that starts with TLS (${ports.tls}) needs the ${protocol} security "TLS" in the cloud setting; otherwise check the host and port and that n8n can reach the server.`,
			'network',
			code || 'GREETING_TIMEOUT',
		);
	}
	return undefined;
}

/** Socket-level failures shared by IMAP, SMTP, Graph and the token endpoint, with the fix. */
export function mapNetworkError(
	error: { message?: string; code?: string },
	protocol: 'IMAP' | 'SMTP' | 'Graph' | 'token endpoint',
): MailServiceError {
	const code = error.code ?? '';
	const text = error.message ?? String(error);
	if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(code + text)) {
		return new MailServiceError(
			`${protocol}: the server's TLS certificate was not trusted (${code || 'TLS error'})`,
			'Check the host name. For a server with a private CA, add the CA to NODE_EXTRA_CA_CERTS of n8n; only as a last resort turn on "Ignore SSL Issues" in this credential.',
			'network',
			code || undefined,
		);
	}
	if (protocol === 'IMAP' || protocol === 'SMTP') {
		const security = mapSecurityError(code, text, protocol);
		if (security) return security;
	}
	if (
		/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EPIPE|NoConnection|ETIMEOUT|socket/i.test(
			code + text,
		)
	) {
		return new MailServiceError(
			`${protocol}: connection failed (${code || text.slice(0, 120)})`,
			'Check the host and port of the cloud setting, and that n8n can reach it; the next poll tries again.',
			'network',
			code || undefined,
		);
	}
	return new MailServiceError(
		`${protocol} error: ${text.slice(0, 300)}`,
		'See the error details; if it persists, check the credential and mailbox settings.',
		'unknown',
		code || undefined,
	);
}

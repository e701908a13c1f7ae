/**
 * Microsoft's sign-in and mail-protocol errors, turned into messages that name the fix.
 * Nothing here may echo a token, secret or Authorization header: every text passes `redactSecrets`.
 */

export type MailErrorKind =
	| 'consent'
	| 'credential'
	| 'reconnect'
	| 'tenant'
	| 'scope'
	| 'mailboxAccess'
	| 'protocolDisabled'
	| 'policy'
	| 'notFound'
	/** Bad parameter input, found before any request. */
	| 'input'
	| 'throttled'
	/** Graph delta state expired: start a new baseline. */
	| 'syncState'
	| 'network'
	| 'unknown';

/** An error our transports raise; node code turns it into NodeApiError/NodeOperationError. */
export class MailServiceError extends Error {
	constructor(
		message: string,
		readonly fix: string,
		readonly kind: MailErrorKind,
		/** Microsoft's own code (AADSTS50076, 535 5.7.3, ErrorAccessDenied...), kept for support. */
		readonly code?: string,
		readonly httpStatus?: number,
	) {
		super(redactSecrets(message));
		this.name = 'MailServiceError';
	}
}

interface AadRule {
	codes: string[];
	kind: MailErrorKind;
	message: string;
	fix: string;
}

const AAD_RULES: AadRule[] = [
	{
		codes: ['65001'],
		kind: 'consent',
		message: 'The app has not been granted consent for the requested permissions',
		fix: 'An administrator grants tenant-wide consent (Entra admin center > App registrations > API permissions > Grant admin consent, or the admin-consent URL), or the user requests approval when signing in.',
	},
	{
		codes: ['90094', '90095'],
		kind: 'consent',
		message: 'Admin consent is required for this app',
		fix: 'Request approval from your Microsoft 365 administrator, who grants admin consent to the app registration.',
	},
	{
		codes: ['50076', '50079'],
		kind: 'reconnect',
		message: 'Multi-factor authentication is now required for this account',
		fix: 'Reconnect the credential interactively (open it in n8n and click Connect) so the sign-in can complete MFA.',
	},
	{
		codes: ['53003'],
		kind: 'policy',
		message: 'Sign-in was blocked by a Conditional Access policy',
		fix: 'An administrator excludes this app from the Conditional Access policy (Entra admin center > Protection > Conditional Access) or allows it from the n8n server.',
	},
	{
		codes: ['700016'],
		kind: 'credential',
		message: 'The application was not found in the tenant',
		fix: 'Check the Client ID (Application ID of the app registration). A single-tenant app must be used with its own tenant ID, not "common" or "organizations".',
	},
	{
		codes: ['7000215'],
		kind: 'credential',
		message: 'The client secret is invalid',
		fix: 'Paste the secret VALUE shown once when the secret was created, not the Secret ID. Create a new secret if the value is lost.',
	},
	{
		codes: ['7000222'],
		kind: 'credential',
		message: 'The client secret has expired',
		fix: 'Create a new client secret (App registrations > Certificates & secrets) and paste its value into the credential.',
	},
	{
		codes: ['50020', '90072'],
		kind: 'tenant',
		message: 'The account is not a member of this tenant',
		fix: 'Sign in with a member account of the tenant that owns the mailbox, or set the credential tenant to the account’s own tenant.',
	},
	{
		codes: ['500011'],
		kind: 'consent',
		message: 'The resource principal was not found in the tenant',
		fix: 'Check the cloud setting (resource host) and that the app has the mail API permissions with admin consent in this tenant.',
	},
	{
		codes: ['70011', '700022', '28000', '28003'],
		kind: 'scope',
		message: 'The requested scopes are invalid',
		fix: 'Fix the scopes: one access token serves one resource, so do not mix Graph and IMAP/SMTP scopes; remove invalid additional scopes.',
	},
	{
		codes: ['50194', '9001023'],
		kind: 'tenant',
		message: 'The app is not configured as multi-tenant',
		fix: 'Set the credential tenant to your Directory (tenant) ID instead of "common" or "organizations".',
	},
	{
		codes: ['50011', '500113'],
		kind: 'credential',
		message: 'The redirect URI does not match the app registration',
		fix: 'Register the OAuth Redirect URL shown in the n8n credential as a "Web" redirect URI in the app registration (Authentication > Add a platform > Web).',
	},
	{
		codes: ['700082', '70008', '50173', '70043', '50132', '50133', '700084'],
		kind: 'reconnect',
		message: 'The refresh token has expired or was revoked',
		fix: 'Reconnect the credential (open it in n8n and click Connect).',
	},
	{
		codes: ['90002', '90023'],
		kind: 'tenant',
		message: 'The tenant was not found',
		fix: 'Check the tenant: use the Directory (tenant) ID or a verified domain of your organization.',
	},
	{
		codes: ['700027', '700023', '50012', '700024'],
		kind: 'credential',
		message: 'The client certificate or assertion was rejected',
		fix: 'Upload the certificate to the app registration (Certificates & secrets) and paste its matching private key; check the thumbprint.',
	},
	{
		codes: ['7000112', '7000114'],
		kind: 'credential',
		message: 'The application is disabled',
		fix: 'An administrator re-enables the app (Enterprise applications > Properties > Enabled for users to sign in).',
	},
];

const AAD_CODE = /AADSTS(\d{5,7})/;

/** Removes anything token- or secret-like from text that may reach a user or a log. */
export function redactSecrets(text: string): string {
	return (
		String(text)
			.replace(/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?/g, '[redacted token]')
			.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, '$1[redacted]')
			// eslint-disable-next-line no-control-regex -- XOAUTH2 strings separate fields with \x01
			.replace(/(auth=Bearer\s*)[^\s\x01]+/gi, '$1[redacted]')
			// A named secret ("code" alone: errorCode and statusCode are diagnostics, not secrets).
			.replace(
				/((?<![A-Za-z_])(?:client_secret|refresh_token|access_token|id_token|assertion|code|password)["']?\s*[=:]\s*["']?)[^&"'\s,}]+/gi,
				'$1[redacted]',
			)
			// A bare Entra refresh token ("0.AXoA…", "1.AUEB…").
			.replace(/\b[0-9]\.A[A-Za-z0-9_*!-]{40,}(?:\.[A-Za-z0-9_*!-]+)*/g, '[redacted token]')
			// A bare Entra client secret value ("abc8Q~" and 34 more characters).
			.replace(/[A-Za-z0-9_.-]{3,4}Q~[A-Za-z0-9_.~-]{20,}/g, '[redacted secret]')
			// A SASL XOAUTH2 string, however short: base64 of "user=…".
			.replace(/dXNlcj[A-Za-z0-9+/]*={0,2}/g, '[redacted]')
			.replace(
				/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g,
				'[redacted key]',
			)
			.replace(/[A-Za-z0-9+/]{200,}={0,2}/g, '[redacted]')
	);
}

export interface TokenEndpointError {
	error?: string;
	error_description?: string;
	error_codes?: number[];
}

/**
 * Maps a token-endpoint failure (Entra's JSON body, or an MSAL error's text) to a MailServiceError.
 * `context.consentUrl`, when known, is added to consent errors so the admin has the link.
 */
export function mapAadError(
	body: TokenEndpointError | string | undefined,
	context: { consentUrl?: string; httpStatus?: number } = {},
): MailServiceError {
	const text =
		typeof body === 'string'
			? body
			: [
					body?.error,
					body?.error_description,
					...(body?.error_codes ?? []).map((c) => `AADSTS${c}`),
				]
					.filter(Boolean)
					.join(' ');
	const match =
		AAD_CODE.exec(text) ??
		AAD_CODE.exec(`AADSTS${(body as TokenEndpointError)?.error_codes?.[0] ?? ''}`);
	const code = match?.[1];
	const rule = code ? AAD_RULES.find((r) => r.codes.includes(code)) : undefined;
	if (rule) {
		const fix =
			rule.kind === 'consent' && context.consentUrl
				? `${rule.fix} Admin-consent URL: ${context.consentUrl}`
				: rule.fix;
		return new MailServiceError(
			`${rule.message} (AADSTS${code})`,
			fix,
			rule.kind,
			`AADSTS${code}`,
			context.httpStatus,
		);
	}
	if (/invalid_grant/.test(text)) {
		return new MailServiceError(
			'Microsoft refused the stored sign-in (invalid_grant)',
			'Reconnect the credential (open it in n8n and click Connect).',
			'reconnect',
			code ? `AADSTS${code}` : 'invalid_grant',
			context.httpStatus,
		);
	}
	if (/invalid_client|unauthorized_client/.test(text)) {
		return new MailServiceError(
			'Microsoft rejected the client ID or client secret',
			'Check the Client ID and the client secret value (not the Secret ID) of the app registration.',
			'credential',
			code ? `AADSTS${code}` : 'invalid_client',
			context.httpStatus,
		);
	}
	const firstLine = text.split(/\r?\n/)[0].slice(0, 300);
	return new MailServiceError(
		`Sign-in failed: ${firstLine || 'no details from the token endpoint'}`,
		'Check the credential: cloud, tenant, client ID and secret or certificate.',
		'unknown',
		code ? `AADSTS${code}` : undefined,
		context.httpStatus,
	);
}

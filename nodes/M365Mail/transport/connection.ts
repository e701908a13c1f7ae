/**
 * The one place under transport/ that reads n8n: it turns a node's credential into the settings and
 * token provider every transport uses.
 */
import { assertMailboxAllowed, parseAllowedMailboxes } from './auth/mailboxes';
import type {
	ICredentialDataDecryptedObject,
	IExecuteFunctions,
	ILoadOptionsFunctions,
	IPollFunctions,
	ITriggerFunctions,
	IHookFunctions,
	IWebhookFunctions,
} from 'n8n-workflow';

import { resolveCloud, type CloudEndpoints, type CloudSettings } from './auth/clouds';
import { APP_ONLY_CREDENTIAL, DELEGATED_CREDENTIAL, type CredentialType } from './auth/credentials';
import { isNetworkErrorCode } from './auth/connectionErrors';
import { mapAadError, MailServiceError, redactSecrets } from './auth/errors';
import type { DelegatedAccess } from './auth/scopes';
import { validateTenant } from './auth/tenant';
import {
	GraphClient,
	GraphNetworkError,
	type GraphHttpRequest,
	type GraphHttpResponse,
	type GraphSender,
} from './graph/client';
import {
	AppOnlyTokenProvider,
	DelegatedTokenProvider,
	type AccessTokenProvider,
	type DelegatedTokenStore,
	type OAuthTokenData,
} from './auth/tokens';

export { APP_ONLY_CREDENTIAL, DELEGATED_CREDENTIAL, type CredentialType };

export interface MailConnection {
	credentialType: CredentialType;
	cloud: CloudEndpoints;
	tokens: AccessTokenProvider;
	/** Only for a credential whose owner turned certificate checks off. */
	allowUnauthorizedCerts: boolean;
	/** Delegated only: which protocol the credential consented to. */
	access?: DelegatedAccess;
	/** Which protocol the node uses: the delegated credential's access, or the app-only node's choice. */
	transport?: MailTransportKind;
	/** Delegated Graph credentials: requests go through n8n's authenticated request helper. */
	graphSender?: GraphSender;
	/** App-only: the mailboxes the credential allows (undefined: any). */
	allowedMailboxes?: string[];
}

/** A Graph client for one mailbox of this connection. */
export function graphClientFor(connection: MailConnection, mailbox: string): GraphClient {
	assertMailboxAllowed(connection.allowedMailboxes, mailbox);
	return new GraphClient({
		cloud: connection.cloud,
		tokens: connection.tokens,
		sender: connection.graphSender,
		mailbox,
	});
}

export type MailTransportKind = 'graph' | 'imap';

type N8nContext =
	| IPollFunctions
	| IExecuteFunctions
	| ILoadOptionsFunctions
	| ITriggerFunctions
	| IHookFunctions
	| IWebhookFunctions;

/** Builds app-only settings from decrypted credential data (also used by the credential test). */
export function appOnlyProviderFromData(data: ICredentialDataDecryptedObject): {
	cloud: CloudEndpoints;
	tokens: AppOnlyTokenProvider;
} {
	const cloud = resolveCloud(data as CloudSettings);
	const tenant = validateTenant(data.tenant as string, { appOnly: true });
	const clientId = String(data.clientId ?? '').trim();
	if (!clientId) {
		throw new MailServiceError(
			'The Client ID is empty',
			'Paste the Application (client) ID of the app registration.',
			'credential',
		);
	}
	const tokens = AppOnlyTokenProvider.for({
		cloud,
		tenant,
		clientId,
		authentication: data.authentication === 'certificate' ? 'certificate' : 'secret',
		clientSecret: data.clientSecret as string | undefined,
		privateKey: data.privateKey as string | undefined,
		certificate: data.certificate as string | undefined,
		thumbprint: data.thumbprint as string | undefined,
	});
	return { cloud, tokens };
}

/** A refresh failure from n8n's OAuth2 client, mapped without echoing what it sent. */
function mapRefreshError(error: unknown): MailServiceError {
	if (error instanceof MailServiceError) return error;
	const e = error as {
		message?: string;
		body?: unknown;
		cause?: { body?: unknown };
		description?: string;
	};
	const details = [e.message, e.description, JSON.stringify(e.body ?? e.cause?.body ?? '')].join(
		' ',
	);
	if (/credentials not connected/i.test(e.message ?? '')) {
		return new MailServiceError(
			'The credential is not connected (no token stored)',
			'Open the credential in n8n and click Connect to sign in with Microsoft.',
			'reconnect',
		);
	}
	if (/reconnect/i.test(e.message ?? '') && !/AADSTS/.test(details)) {
		return new MailServiceError(
			'Microsoft refused the stored sign-in: the refresh token expired or was revoked',
			'Reconnect the credential (open it in n8n and click Connect).',
			'reconnect',
			'invalid_grant',
		);
	}
	return mapAadError(redactSecrets(details));
}

/**
 * The token data of a delegated credential. `read` gives what the node read when it connected (n8n
 * reads and decrypts a credential on each getCredentials), or what a refresh returned since: an
 * access token read once stays valid until its expiry, and n8n's refresh reads the credential it
 * refreshes itself.
 */
function delegatedStore(
	ctx: N8nContext,
	type: string,
	initial: OAuthTokenData | undefined,
): DelegatedTokenStore {
	let latest: OAuthTokenData | undefined = initial;
	return {
		async read() {
			if (latest) return latest;
			const data = await ctx.getCredentials(type);
			return data.oauthTokenData as OAuthTokenData | undefined;
		},
		async refresh() {
			const helpers = ctx.helpers as {
				refreshOAuth2Token?: (t: string) => Promise<OAuthTokenData>;
			};
			if (typeof helpers.refreshOAuth2Token !== 'function') {
				throw new MailServiceError(
					'This n8n version cannot refresh OAuth2 tokens for IMAP and SMTP',
					'Update n8n to a version that provides helpers.refreshOAuth2Token (1.120 or later, or 2.x), or use Microsoft Graph access.',
					'credential',
				);
			}
			try {
				// n8n refreshes under a per-credential lock and persists the rotated refresh token.
				const refreshed = await helpers.refreshOAuth2Token.call(ctx, type);
				latest = { ...(latest ?? {}), ...refreshed };
				return latest;
			} catch (error) {
				throw mapRefreshError(error);
			}
		},
	};
}

/** An HTTP answer as n8n's helpers give it: a full response, or an axios error's response. */
interface N8nResponse {
	status?: number;
	statusCode?: number;
	statusText?: string;
	statusMessage?: string;
	headers?: Record<string, unknown>;
	body?: unknown;
	data?: unknown;
}

function toGraphResponse(response: N8nResponse): GraphHttpResponse {
	const raw = response.body ?? response.data;
	const body = Buffer.isBuffer(raw)
		? raw
		: raw instanceof ArrayBuffer
			? Buffer.from(raw)
			: typeof raw === 'string'
				? Buffer.from(raw)
				: Buffer.from(raw === undefined ? '' : JSON.stringify(raw));
	const headers = new Map(
		Object.entries(response.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]),
	);
	return {
		status: Number(response.statusCode ?? response.status),
		statusText: String(response.statusMessage ?? response.statusText ?? ''),
		header: (name) => headers.get(name.toLowerCase()),
		body,
	};
}

/**
 * Delegated Graph requests through n8n's `httpRequestWithAuthentication`: n8n signs them with the
 * stored token and, on a 401, refreshes it under its per-credential lock, persists the rotated
 * refresh token and sends the request again. Every other status comes back to the client, which
 * handles Retry-After and Graph's error bodies itself.
 */
export function n8nGraphSender(ctx: N8nContext, credentialType: CredentialType): GraphSender {
	return {
		signs: true,
		async send(request: GraphHttpRequest): Promise<GraphHttpResponse> {
			try {
				const response = (await ctx.helpers.httpRequestWithAuthentication.call(
					ctx,
					credentialType,
					{
						url: request.url,
						method: request.method,
						headers: request.headers,
						body: request.body,
						encoding: 'arraybuffer',
						json: false,
						returnFullResponse: true,
						// Only a 401 is thrown, so that n8n refreshes the token; the rest come back.
						ignoreHttpStatusErrors: { ignore: true, except: [401] },
					},
				)) as N8nResponse;
				return toGraphResponse(response);
			} catch (error) {
				// n8n wraps the request error in a NodeApiError; the HTTP answer is on its cause.
				const cause = ((error as { cause?: unknown }).cause ?? error) as {
					response?: N8nResponse;
					code?: string;
					message?: string;
					isAxiosError?: boolean;
					body?: unknown;
				};
				// The token endpoint refused n8n's refresh (client-oauth2's AuthError, code EAUTH, with
				// Microsoft's error body): a credential problem, not a network one.
				if (cause.body !== undefined || cause.code === 'EAUTH') throw mapRefreshError(error);
				if (cause.response && Number(cause.response.status ?? cause.response.statusCode) > 0) {
					return toGraphResponse(cause.response);
				}
				if (cause.code === 'ERR_CANCELED') {
					// The execution was stopped: nothing to retry.
					throw new MailServiceError(
						'The request to Microsoft Graph was cancelled (the execution was stopped)',
						'Run the workflow again.',
						'input',
						'ERR_CANCELED',
					);
				}
				if (cause.isAxiosError || isNetworkErrorCode(cause.code)) {
					throw new GraphNetworkError(redactSecrets(cause.message ?? ''), cause.code);
				}
				// No HTTP answer and no network error: n8n could not sign or refresh.
				throw mapRefreshError(error);
			}
		},
	};
}

/** Reads the node's credential and returns its cloud, token provider and TLS choice. */
export async function connectionFromContext(
	ctx: N8nContext,
	credentialType: CredentialType,
): Promise<MailConnection> {
	const data = await ctx.getCredentials(credentialType);
	// Microsoft's own clouds always have valid certificates: the switch exists for a custom endpoint only.
	const allowUnauthorizedCerts = data.allowUnauthorizedCerts === true && data.cloud === 'custom';
	if (credentialType === APP_ONLY_CREDENTIAL) {
		const { cloud, tokens } = appOnlyProviderFromData(data);
		const allowedMailboxes = parseAllowedMailboxes(data.allowedMailboxes);
		return { credentialType, cloud, tokens, allowUnauthorizedCerts, allowedMailboxes };
	}
	const cloud = resolveCloud(data as CloudSettings);
	validateTenant(data.tenant as string, { appOnly: false });
	const access: DelegatedAccess = data.access === 'imapSmtp' ? 'imapSmtp' : 'graph';
	const tokens = new DelegatedTokenProvider(
		delegatedStore(ctx, credentialType, data.oauthTokenData as OAuthTokenData | undefined),
		access,
	);
	// A credential for IMAP + SMTP keeps the token module's path, whose error names the fix.
	const graphSender = access === 'graph' ? n8nGraphSender(ctx, credentialType) : undefined;
	return { credentialType, cloud, tokens, allowUnauthorizedCerts, access, graphSender };
}

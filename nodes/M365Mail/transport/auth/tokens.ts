/**
 * One answer to "give me an access token for resource R of this credential", for every transport.
 * Delegated tokens are refreshed through n8n (which persists the rotated refresh token); app-only
 * tokens come from MSAL's confidential client, one cached client per credential.
 */
import { createHash, X509Certificate } from 'node:crypto';

// Types only at load time: MSAL is required on first use (n8n loads every node file at start).
import type { ConfidentialClientApplication, Configuration } from '@azure/msal-node';

import type { CloudEndpoints } from './clouds';
import { mapAadError, MailServiceError } from './errors';
import { adminConsentUrl, appOnlyScope, type DelegatedAccess, type ResourceKind } from './scopes';

export interface TokenRequestOptions {
	/** Ignore any cached token (used once after the server refused one). */
	forceRefresh?: boolean;
}

export interface AccessTokenProvider {
	readonly kind: 'delegated' | 'appOnly';
	getAccessToken(resource: ResourceKind, options?: TokenRequestOptions): Promise<string>;
	/** The mailbox the credential signs in as, when it has one (delegated only). */
	signedInMailbox(): Promise<string | undefined>;
}

/** Reads a JWT's payload without verifying it: for expiry and user claims of our own tokens only. */
export function decodeJwtPayload(token: string | undefined): Record<string, unknown> | undefined {
	if (!token) return undefined;
	const parts = token.split('.');
	if (parts.length < 2) return undefined;
	try {
		return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Record<
			string,
			unknown
		>;
	} catch {
		return undefined;
	}
}

/** What n8n keeps in `oauthTokenData` of an OAuth2 credential (the token response plus n8n fields). */
export interface OAuthTokenData {
	access_token?: string;
	refresh_token?: string;
	id_token?: string;
	expires_in?: number | string;
	n8n_expires_at?: number | string;
	[key: string]: unknown;
}

/** The n8n side of a delegated credential: read what is stored, or refresh and persist. */
export interface DelegatedTokenStore {
	read(): Promise<OAuthTokenData | undefined>;
	/** Refreshes through n8n (`helpers.refreshOAuth2Token`), which persists the rotated refresh token. */
	refresh(): Promise<OAuthTokenData>;
}

/** Refresh this long before expiry: IMAP sessions and SMTP sends must not outlive their token. */
export const REFRESH_SKEW_MS = 5 * 60_000;

function expiresAt(data: OAuthTokenData): number | undefined {
	const stored = Number(data.n8n_expires_at);
	if (Number.isFinite(stored) && stored > 0) return stored;
	const exp = Number(decodeJwtPayload(data.access_token)?.exp);
	return Number.isFinite(exp) && exp > 0 ? exp * 1000 : undefined;
}

function reconnectError(detail: string): MailServiceError {
	return new MailServiceError(
		`The credential is not connected (${detail})`,
		'Open the credential in n8n and click Connect to sign in with Microsoft.',
		'reconnect',
	);
}

export class DelegatedTokenProvider implements AccessTokenProvider {
	readonly kind = 'delegated' as const;

	constructor(
		private readonly store: DelegatedTokenStore,
		private readonly access: DelegatedAccess,
		private readonly now: () => number = Date.now,
	) {}

	/** The stored token data; a credential never connected has neither token. */
	private async stored(): Promise<OAuthTokenData> {
		const data = await this.store.read();
		if (!data?.access_token && !data?.refresh_token) throw reconnectError('no token stored');
		return data;
	}

	async getAccessToken(resource: ResourceKind, options: TokenRequestOptions = {}): Promise<string> {
		const wanted: DelegatedAccess = resource === 'graph' ? 'graph' : 'imapSmtp';
		if (wanted !== this.access) {
			throw new MailServiceError(
				resource === 'graph'
					? 'This credential was set up for IMAP + SMTP access, not Microsoft Graph'
					: 'This credential was set up for Microsoft Graph access, not IMAP + SMTP',
				resource === 'graph'
					? 'Switch the node to the IMAP + SMTP transport, or create a credential with Access set to Microsoft Graph.'
					: 'Switch the node to the Microsoft Graph transport, or create a credential with Access set to IMAP + SMTP.',
				'scope',
			);
		}
		const data = await this.stored();
		const expiry = data.access_token ? expiresAt(data) : undefined;
		const fresh = expiry !== undefined && expiry - this.now() > REFRESH_SKEW_MS;
		if (data.access_token && fresh && !options.forceRefresh) return data.access_token;
		if (!data.refresh_token)
			throw reconnectError('no refresh token: offline_access was not granted');
		const renewed = await this.store.refresh();
		if (!renewed?.access_token) throw reconnectError('the refresh returned no access token');
		return renewed.access_token;
	}

	async signedInMailbox(): Promise<string | undefined> {
		const data = await this.stored();
		for (const token of [data?.id_token, data?.access_token]) {
			const claims = decodeJwtPayload(token);
			for (const claim of ['preferred_username', 'upn', 'email', 'unique_name']) {
				const value = claims?.[claim];
				if (typeof value === 'string' && value.includes('@')) return value;
			}
		}
		return undefined;
	}
}

export interface AppOnlySettings {
	cloud: CloudEndpoints;
	tenant: string;
	clientId: string;
	authentication: 'secret' | 'certificate';
	clientSecret?: string;
	/** PEM private key of the certificate registered on the app. */
	privateKey?: string;
	/** PEM certificate (preferred: gives thumbprint and x5c) ... */
	certificate?: string;
	/** ... or its SHA-1 / SHA-256 thumbprint as hex. */
	thumbprint?: string;
}

function certificateCredential(
	settings: AppOnlySettings,
): NonNullable<Configuration['auth']['clientCertificate']> {
	const privateKey = (settings.privateKey ?? '').trim();
	if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(privateKey)) {
		throw new MailServiceError(
			'The certificate private key is missing or not in PEM format',
			'Paste the PEM private key (-----BEGIN PRIVATE KEY----- ...) of the certificate uploaded to the app registration.',
			'credential',
		);
	}
	const pem = (settings.certificate ?? '').trim();
	if (pem) {
		let cert: X509Certificate;
		try {
			cert = new X509Certificate(pem);
		} catch {
			throw new MailServiceError(
				'The certificate is not a valid PEM certificate',
				'Paste the public certificate (-----BEGIN CERTIFICATE----- ...) uploaded to the app registration, or its thumbprint instead.',
				'credential',
			);
		}
		return {
			thumbprintSha256: cert.fingerprint256.replace(/:/g, ''),
			privateKey,
			x5c: pem,
		};
	}
	const thumbprint = (settings.thumbprint ?? '').replace(/[\s:]/g, '');
	if (/^[0-9a-f]{64}$/i.test(thumbprint)) return { thumbprintSha256: thumbprint, privateKey };
	if (/^[0-9a-f]{40}$/i.test(thumbprint)) return { thumbprint, privateKey };
	throw new MailServiceError(
		'The certificate thumbprint is missing or malformed',
		'Paste the certificate (PEM), or its thumbprint as shown in the app registration (40 or 64 hex characters).',
		'credential',
	);
}

function msalConfiguration(settings: AppOnlySettings): Configuration {
	const authority = `${settings.cloud.loginUrl}/${settings.tenant}`;
	const auth: Configuration['auth'] = { clientId: settings.clientId, authority };
	if (settings.authentication === 'certificate') {
		auth.clientCertificate = certificateCredential(settings);
	} else {
		if (!settings.clientSecret?.trim()) {
			throw new MailServiceError(
				'The client secret is empty',
				'Paste the secret VALUE from App registrations > Certificates & secrets.',
				'credential',
			);
		}
		auth.clientSecret = settings.clientSecret.trim();
	}
	if (settings.cloud.name === 'custom') {
		// A custom (sovereign or test) authority: tell MSAL its endpoints so it makes no discovery call.
		const host = new URL(settings.cloud.loginUrl).host;
		const base = `${authority}/oauth2/v2.0`;
		auth.knownAuthorities = [host];
		auth.authorityMetadata = JSON.stringify({
			token_endpoint: `${base}/token`,
			authorization_endpoint: `${base}/authorize`,
			end_session_endpoint: `${base}/logout`,
			issuer: `${authority}/v2.0`,
			jwks_uri: `${settings.cloud.loginUrl}/${settings.tenant}/discovery/v2.0/keys`,
		});
		auth.cloudDiscoveryMetadata = JSON.stringify({
			tenant_discovery_endpoint: `${authority}/v2.0/.well-known/openid-configuration`,
			'api-version': '1.1',
			metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
		});
	}
	return { auth };
}

const clients = new Map<string, Promise<ConfidentialClientApplication>>();
const MAX_CACHED_CLIENTS = 100;

function cacheKey(settings: AppOnlySettings): string {
	// Hash so that no secret is kept as a map key in clear; a changed secret gives a new client.
	return createHash('sha256')
		.update(
			JSON.stringify([
				settings.cloud,
				settings.tenant,
				settings.clientId,
				settings.authentication,
				settings.clientSecret,
				settings.privateKey,
				settings.certificate,
				settings.thumbprint,
			]),
		)
		.digest('hex');
}

export class AppOnlyTokenProvider implements AccessTokenProvider {
	readonly kind = 'appOnly' as const;

	private constructor(
		private readonly settings: AppOnlySettings,
		private readonly client: () => Promise<ConfidentialClientApplication>,
	) {}

	/** One MSAL client per credential (MSAL caches tokens per scope inside it), made on first use. */
	static for(settings: AppOnlySettings): AppOnlyTokenProvider {
		const configuration = msalConfiguration(settings);
		const key = cacheKey(settings);
		const client = () => {
			let made = clients.get(key);
			if (!made) {
				made = import('@azure/msal-node').then(
					(msal) => new msal.ConfidentialClientApplication(configuration),
				);
				made.catch(() => clients.delete(key));
				if (clients.size >= MAX_CACHED_CLIENTS)
					clients.delete(clients.keys().next().value as string);
				clients.set(key, made);
			}
			return made;
		};
		return new AppOnlyTokenProvider(settings, client);
	}

	async getAccessToken(resource: ResourceKind, options: TokenRequestOptions = {}): Promise<string> {
		try {
			const client = await this.client();
			const result = await client.acquireTokenByClientCredential({
				scopes: [appOnlyScope(this.settings.cloud, resource)],
				skipCache: options.forceRefresh === true,
			});
			if (!result?.accessToken) throw new Error('The token endpoint returned no access token');
			return result.accessToken;
		} catch (error) {
			if (error instanceof MailServiceError) throw error;
			const e = error as { errorMessage?: string; message?: string; errorCode?: string };
			throw mapAadError(`${e.errorCode ?? ''} ${e.errorMessage ?? e.message ?? ''}`, {
				consentUrl: adminConsentUrl(
					this.settings.cloud,
					this.settings.tenant,
					this.settings.clientId,
				),
			});
		}
	}

	async signedInMailbox(): Promise<string | undefined> {
		return undefined;
	}
}

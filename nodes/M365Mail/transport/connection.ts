/**
 * The one place under transport/ that reads n8n: it turns a node's credential into the settings and
 * token provider every transport uses.
 */
import type {
	ICredentialDataDecryptedObject,
	IExecuteFunctions,
	ILoadOptionsFunctions,
	IPollFunctions,
} from 'n8n-workflow';

import { resolveCloud, type CloudEndpoints, type CloudSettings } from './auth/clouds';
import { mapAadError, MailServiceError, redactSecrets } from './auth/errors';
import type { DelegatedAccess } from './auth/scopes';
import { validateTenant } from './auth/tenant';
import {
	AppOnlyTokenProvider,
	DelegatedTokenProvider,
	type AccessTokenProvider,
	type DelegatedTokenStore,
	type OAuthTokenData,
} from './auth/tokens';

export const DELEGATED_CREDENTIAL = 'm365MailOAuth2Api';
export const APP_ONLY_CREDENTIAL = 'm365MailAppOnlyApi';
export type CredentialType = typeof DELEGATED_CREDENTIAL | typeof APP_ONLY_CREDENTIAL;

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
}

export type MailTransportKind = 'graph' | 'imap';

type N8nContext = IPollFunctions | IExecuteFunctions | ILoadOptionsFunctions;

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

function delegatedStore(ctx: N8nContext, type: string): DelegatedTokenStore {
	let latest: OAuthTokenData | undefined;
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

/** Reads the node's credential and returns its cloud, token provider and TLS choice. */
export async function connectionFromContext(
	ctx: N8nContext,
	credentialType: CredentialType,
): Promise<MailConnection> {
	const data = await ctx.getCredentials(credentialType);
	const allowUnauthorizedCerts = data.allowUnauthorizedCerts === true;
	if (credentialType === APP_ONLY_CREDENTIAL) {
		const { cloud, tokens } = appOnlyProviderFromData(data);
		return { credentialType, cloud, tokens, allowUnauthorizedCerts };
	}
	const cloud = resolveCloud(data as CloudSettings);
	validateTenant(data.tenant as string, { appOnly: false });
	const access: DelegatedAccess = data.access === 'imapSmtp' ? 'imapSmtp' : 'graph';
	const tokens = new DelegatedTokenProvider(delegatedStore(ctx, credentialType), access);
	return { credentialType, cloud, tokens, allowUnauthorizedCerts, access };
}

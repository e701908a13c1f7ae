/** What integration tests know of the running local stack (started by test/run.mjs). */
import type { ICredentialDataDecryptedObject } from 'n8n-workflow';

import { APPS, TENANT_ID } from '../stack/directory';
import type { StackInfo } from '../stack/index';
import type { MintOptions } from '../stack/oauth-server';

export function stackInfo(): StackInfo {
	const raw = process.env.M365_STACK;
	if (!raw)
		throw new Error(
			'M365_STACK is not set: run integration tests through `npm test` (test/run.mjs)',
		);
	return JSON.parse(raw) as StackInfo;
}

/** Mints a token signed by the stack's OAuth2 server (valid, expired, wrong audience...). */
export async function mintToken(options: MintOptions): Promise<string> {
	const mint = () =>
		fetch(`${stackInfo().oauthUrl}/_test/mint`, { method: 'POST', body: JSON.stringify(options) });
	// A kept-alive socket the server closed while idle: the request never arrived, so send it again.
	const response = await mint().catch(async (error: { cause?: { code?: string } }) => {
		if (error.cause?.code !== 'UND_ERR_SOCKET') throw error;
		return await mint();
	});
	return ((await response.json()) as { token: string }).token;
}

/**
 * The same access token (user, audience, scopes) but expired a minute ago at the resource, as a token
 * looks once its hour is over while n8n's stored expiry may still say fresh.
 */
export async function expiredCopy(accessToken: string): Promise<string> {
	const claims = JSON.parse(
		Buffer.from(accessToken.split('.')[1], 'base64url').toString('utf8'),
	) as {
		upn: string;
		aud: string;
		scp: string;
	};
	return await mintToken({
		upn: claims.upn,
		audience: claims.aud,
		scp: claims.scp,
		expiresIn: -60,
	});
}

export async function tokenRequestCounts(): Promise<Record<string, number>> {
	return (await (await fetch(`${stackInfo().oauthUrl}/_test/counts`)).json()) as Record<
		string,
		number
	>;
}

/** Changes the local OAuth2 server's token lifetime or rotation rule; returns the settings before. */
export async function oauthSettings(settings: {
	accessTokenLifetime?: number;
	strictRotation?: boolean;
}): Promise<{ accessTokenLifetime: number; strictRotation: boolean }> {
	const response = await fetch(`${stackInfo().oauthUrl}/_test/settings`, {
		method: 'POST',
		body: JSON.stringify(settings),
	});
	return (await response.json()) as { accessTokenLifetime: number; strictRotation: boolean };
}

export async function ageRefreshToken(token: string, how: 'revoke' | 'expire'): Promise<void> {
	await fetch(`${stackInfo().oauthUrl}/_test/refresh-token`, {
		method: 'POST',
		body: new URLSearchParams({ token, how }),
	});
}

/** The credential fields of the "Custom" cloud that point at the local stack. */
export function customCloudFields(): ICredentialDataDecryptedObject {
	const info = stackInfo();
	return {
		cloud: 'custom',
		customLoginUrl: info.oauthUrl,
		customGraphUrl: info.graphUrl,
		customOutlookResource: 'https://outlook.office.com',
		customImapHost: '127.0.0.1',
		customImapPort: info.imapsPort,
		customImapTls: 'tls',
		customSmtpHost: '127.0.0.1',
		customSmtpPort: info.smtpPort,
		customSmtpTls: 'starttls',
	};
}

export function appOnlyCredential(
	overrides: ICredentialDataDecryptedObject = {},
): ICredentialDataDecryptedObject {
	return {
		...customCloudFields(),
		tenant: TENANT_ID,
		clientId: APPS.service.clientId,
		authentication: 'secret',
		clientSecret: APPS.service.secrets[0].value,
		testResource: 'both',
		...overrides,
	};
}

/**
 * Signs a user in through the real authorization-code flow (authorize redirect, then the token
 * endpoint), returning the token response n8n would store as oauthTokenData.
 */
export async function signIn(upn: string, scope: string): Promise<Record<string, unknown>> {
	const info = stackInfo();
	const redirectUri = 'http://127.0.0.1:5678/rest/oauth2-credential/callback';
	const authorize = new URL(`${info.oauthUrl}/${TENANT_ID}/oauth2/v2.0/authorize`);
	authorize.search = new URLSearchParams({
		client_id: APPS.delegated.clientId,
		response_type: 'code',
		redirect_uri: redirectUri,
		scope,
		state: 'test',
		user: upn,
	}).toString();
	// A kept-alive socket the server closed meanwhile fails the first try ("other side closed"):
	// asking for a code again is harmless.
	const redirect = await fetch(authorize, { redirect: 'manual' }).catch(
		async () => await fetch(authorize, { redirect: 'manual' }),
	);
	await redirect.arrayBuffer();
	const code = new URL(redirect.headers.get('location')!).searchParams.get('code');
	if (!code) throw new Error(`no code: ${redirect.headers.get('location')}`);
	const response = await fetch(`${info.oauthUrl}/${TENANT_ID}/oauth2/v2.0/token`, {
		method: 'POST',
		body: new URLSearchParams({
			grant_type: 'authorization_code',
			code,
			redirect_uri: redirectUri,
			client_id: APPS.delegated.clientId,
			client_secret: APPS.delegated.secrets[0].value,
		}),
	});
	const body = (await response.json()) as Record<string, unknown>;
	if (!response.ok) throw new Error(`token endpoint: ${JSON.stringify(body)}`);
	return { ...body, n8n_expires_at: String(Date.now() + Number(body.expires_in) * 1000) };
}

export function delegatedCredential(
	oauthTokenData: Record<string, unknown>,
	overrides: ICredentialDataDecryptedObject = {},
): ICredentialDataDecryptedObject {
	return {
		...customCloudFields(),
		tenant: TENANT_ID,
		access: 'imapSmtp',
		clientId: APPS.delegated.clientId,
		clientSecret: APPS.delegated.secrets[0].value,
		oauthTokenData: oauthTokenData as ICredentialDataDecryptedObject[string],
		...overrides,
	};
}

export const IMAP_SCOPES =
	'openid profile email offline_access https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send';

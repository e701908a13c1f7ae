/** Which scopes each credential asks for, per cloud and access choice. */
import type { CloudEndpoints } from './clouds';

export type DelegatedAccess = 'graph' | 'imapSmtp';
export type ResourceKind = 'graph' | 'outlook';

/** Sign-in scopes: an id_token names the signed-in mailbox; offline_access gives a refresh token. */
const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'];

function graphScope(cloud: CloudEndpoints, permission: string): string {
	// Short names mean Microsoft Graph only in the global cloud; elsewhere qualify them.
	return cloud.name === 'global' ? permission : `${cloud.graphUrl}/${permission}`;
}

export interface DelegatedScopeOptions {
	access: DelegatedAccess;
	sharedMailboxes?: boolean;
	additionalScopes?: string;
}

/**
 * Scopes for the authorization-code flow. All resource scopes name one resource, since one access
 * token has one audience (AADSTS700022 otherwise).
 */
export function delegatedScopes(cloud: CloudEndpoints, options: DelegatedScopeOptions): string[] {
	const scopes = [...OIDC_SCOPES];
	if (options.access === 'graph') {
		const permissions = ['User.Read', 'Mail.ReadWrite', 'Mail.Send'];
		if (options.sharedMailboxes) permissions.push('Mail.ReadWrite.Shared', 'Mail.Send.Shared');
		scopes.push(...permissions.map((p) => graphScope(cloud, p)));
	} else {
		scopes.push(
			`${cloud.outlookResource}/IMAP.AccessAsUser.All`,
			`${cloud.outlookResource}/SMTP.Send`,
		);
	}
	for (const extra of (options.additionalScopes ?? '').split(/[\s,]+/)) {
		if (extra && !scopes.includes(extra)) scopes.push(extra);
	}
	return scopes;
}

/** The one `.default` scope an app-only token is requested with for a resource. */
export function appOnlyScope(cloud: CloudEndpoints, resource: ResourceKind): string {
	return resource === 'graph'
		? `${cloud.graphUrl}/.default`
		: `${cloud.outlookAppResource}/.default`;
}

/** Authorize and token URLs of the v2.0 endpoint for a tenant. */
export function oauthUrls(cloud: CloudEndpoints, tenant: string) {
	const base = `${cloud.loginUrl}/${encodeURIComponent(tenant)}/oauth2/v2.0`;
	return { authUrl: `${base}/authorize`, accessTokenUrl: `${base}/token` };
}

/** The URL an admin opens to grant tenant-wide consent to the app. */
export function adminConsentUrl(cloud: CloudEndpoints, tenant: string, clientId: string): string {
	const target = tenant === 'common' || tenant === 'consumers' ? 'organizations' : tenant;
	return `${cloud.loginUrl}/${encodeURIComponent(target)}/adminconsent?client_id=${encodeURIComponent(clientId)}`;
}

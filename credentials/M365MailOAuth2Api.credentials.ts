import type { Icon, ICredentialType, INodeProperties } from 'n8n-workflow';

import { cloudFields, cloudValueExpression, allowUnauthorizedCertsField } from './cloudFields';

const LOGIN = cloudValueExpression('loginUrl', 'customLoginUrl');
const GRAPH = cloudValueExpression('graphUrl', 'customGraphUrl');
const OUTLOOK = cloudValueExpression('outlookResource', 'customOutlookResource');
const TENANT = '(String($self["tenant"] || "").trim() || "organizations")';
/** Graph permissions are short names in the global cloud and qualified by the Graph host elsewhere. */
const GRAPH_PREFIX = `($self["cloud"] === "global" || !$self["cloud"] ? "" : ${GRAPH} + "/")`;

/**
 * Must give the same list as `delegatedScopes()` in transport/auth/scopes.ts (a unit test compares
 * them for every cloud and access choice): the credential's scopes can only be an n8n expression.
 */
const SCOPE_EXPRESSION =
	'={{ (["openid", "profile", "email", "offline_access"]' +
	`.concat($self["access"] === "imapSmtp" ? [${OUTLOOK} + "/IMAP.AccessAsUser.All", ${OUTLOOK} + "/SMTP.Send"]` +
	` : ["User.Read", "Mail.ReadWrite", "Mail.Send"].concat($self["sharedMailboxes"] ? ["Mail.ReadWrite.Shared", "Mail.Send.Shared"] : []).map(p => ${GRAPH_PREFIX} + p))` +
	'.concat(String($self["additionalScopes"] || "").split(/[\\s,]+/))' +
	'.filter((s, i, all) => s && all.indexOf(s) === i)).join(" ") }}';

export class M365MailOAuth2Api implements ICredentialType {
	name = 'm365MailOAuth2Api';

	displayName = 'Microsoft 365 Mail OAuth2 API';

	extends = ['oAuth2Api'];

	icon: Icon = { light: 'file:../icons/m365mail.svg', dark: 'file:../icons/m365mail.dark.svg' };

	documentationUrl =
		'https://github.com/n8n-nodes-m365-mail/n8n-nodes-m365-mail#delegated-oauth2-credential';

	properties: INodeProperties[] = [
		{
			displayName:
				'<b>Setup in Microsoft Entra</b>: App registrations &gt; New registration. Under Authentication add a platform of type <b>Web</b> with the OAuth Redirect URL shown above. Under API permissions add, for Microsoft Graph access: Microsoft Graph delegated <code>User.Read</code>, <code>Mail.ReadWrite</code>, <code>Mail.Send</code> (and <code>Mail.ReadWrite.Shared</code>, <code>Mail.Send.Shared</code> for shared mailboxes); for IMAP + SMTP access: Office 365 Exchange Online delegated <code>IMAP.AccessAsUser.All</code> and <code>SMTP.Send</code>; plus <code>offline_access</code>. Create a client secret and paste its <b>value</b>. If users may not consent, an admin opens <code>https://login.microsoftonline.com/&lt;tenant&gt;/adminconsent?client_id=&lt;client ID&gt;</code> (use the login host of your cloud).',
			name: 'setupNotice',
			type: 'notice',
			default: '',
		},
		...cloudFields,
		{
			displayName: 'Tenant',
			name: 'tenant',
			type: 'string',
			default: 'organizations',
			required: true,
			placeholder: 'organizations, or contoso.onmicrosoft.com, or a tenant ID',
			description:
				'"organizations" lets any work account sign in (multi-tenant app); use your Directory (tenant) ID or domain for a single-tenant app; "common" also allows personal accounts and "consumers" only those',
		},
		{
			displayName: 'Access',
			name: 'access',
			type: 'options',
			options: [
				{
					name: 'Microsoft Graph',
					value: 'graph',
					description: 'Works in most tenants; needs the Graph mail permissions',
				},
				{
					name: 'IMAP + SMTP',
					value: 'imapSmtp',
					description:
						'IMAP and SMTP with XOAUTH2; IMAP and SMTP AUTH must be enabled for the mailbox',
				},
			],
			default: 'graph',
			description:
				'Which protocol the nodes use with this credential. One Microsoft token serves one of them, so create a second credential for the other.',
		},
		{
			displayName: 'Shared Mailbox Access',
			name: 'sharedMailboxes',
			type: 'boolean',
			default: false,
			description:
				'Whether to also request Mail.ReadWrite.Shared and Mail.Send.Shared, needed to read and send from shared mailboxes or other users’ mailboxes over Graph. Over IMAP, FullAccess on the mailbox is enough.',
			displayOptions: { show: { access: ['graph'] } },
		},
		{
			displayName: 'Additional Scopes',
			name: 'additionalScopes',
			type: 'string',
			default: '',
			placeholder: 'Calendars.Read',
			description:
				'Further scopes to request, separated by spaces. They must belong to the same resource as the access chosen above.',
		},
		allowUnauthorizedCertsField,
		{
			displayName: 'Grant Type',
			name: 'grantType',
			type: 'hidden',
			default: 'authorizationCode',
		},
		{
			displayName: 'Authorization URL',
			name: 'authUrl',
			type: 'hidden',
			default: `={{ ${LOGIN} + "/" + ${TENANT} + "/oauth2/v2.0/authorize" }}`,
		},
		{
			displayName: 'Access Token URL',
			name: 'accessTokenUrl',
			type: 'hidden',
			default: `={{ ${LOGIN} + "/" + ${TENANT} + "/oauth2/v2.0/token" }}`,
		},
		{
			displayName: 'Scope',
			name: 'scope',
			type: 'hidden',
			default: SCOPE_EXPRESSION,
		},
		{
			displayName: 'Auth URI Query Parameters',
			name: 'authQueryParameters',
			type: 'hidden',
			default: 'response_mode=query&prompt=select_account',
		},
		{
			displayName: 'Authentication',
			name: 'authentication',
			type: 'hidden',
			default: 'body',
		},
	];
}

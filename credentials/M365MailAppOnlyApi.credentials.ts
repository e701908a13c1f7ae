import type { Icon, ICredentialType, INodeProperties } from 'n8n-workflow';

import { allowUnauthorizedCertsField, cloudFields } from './cloudFields';

export class M365MailAppOnlyApi implements ICredentialType {
	name = 'm365MailAppOnlyApi';

	displayName = 'Microsoft 365 Mail App-Only API';

	icon: Icon = { light: 'file:../icons/m365mail.svg', dark: 'file:../icons/m365mail.dark.svg' };

	documentationUrl =
		'https://github.com/n8n-nodes-m365-mail/n8n-nodes-m365-mail#app-only-credential';

	properties: INodeProperties[] = [
		{
			displayName:
				'<b>App-only access</b> (client credentials, no signed-in user) for service and shared mailboxes. In the app registration add <b>application</b> permissions: Microsoft Graph <code>Mail.ReadWrite</code> and <code>Mail.Send</code>, and/or Office 365 Exchange Online <code>IMAP.AccessAsApp</code> and <code>SMTP.SendAsApp</code>, then <b>Grant admin consent</b>. For IMAP/SMTP an Exchange admin also runs <code>New-ServicePrincipal -AppId &lt;client ID&gt; -ObjectId &lt;Object ID from Enterprise applications, not App registrations&gt;</code> and <code>Add-MailboxPermission -Identity &lt;mailbox&gt; -User &lt;service principal ID&gt; -AccessRights FullAccess</code>.',
			name: 'setupNotice',
			type: 'notice',
			default: '',
		},
		...cloudFields,
		{
			displayName: 'Tenant ID or Domain',
			name: 'tenant',
			type: 'string',
			default: '',
			required: true,
			placeholder: 'contoso.onmicrosoft.com',
			description:
				'The Directory (tenant) ID or a verified domain of the tenant that owns the mailboxes. "common" and "organizations" do not work with client credentials.',
		},
		{
			displayName: 'Client ID',
			name: 'clientId',
			type: 'string',
			default: '',
			required: true,
			placeholder: '00000000-0000-0000-0000-000000000000',
			description: 'The Application (client) ID of the app registration',
		},
		{
			displayName: 'Authentication',
			name: 'authentication',
			type: 'options',
			options: [
				{
					name: 'Client Secret',
					value: 'secret',
					description: 'A secret created under Certificates & secrets',
				},
				{
					name: 'Certificate',
					value: 'certificate',
					description: 'A certificate uploaded to the app registration, with its private key',
				},
			],
			default: 'secret',
			description: 'How the app proves its identity to Microsoft',
		},
		{
			displayName: 'Client Secret',
			name: 'clientSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			description: 'The secret VALUE (shown once when created), not the Secret ID',
			displayOptions: { show: { authentication: ['secret'] } },
		},
		{
			displayName: 'Private Key',
			name: 'privateKey',
			type: 'string',
			typeOptions: { password: true, rows: 5 },
			default: '',
			required: true,
			placeholder: '-----BEGIN PRIVATE KEY-----',
			description: 'PEM private key of the certificate uploaded to the app registration',
			displayOptions: { show: { authentication: ['certificate'] } },
		},
		// eslint-disable-next-line @n8n/community-nodes/credential-password-field -- a public certificate, not a secret
		{
			displayName: 'Certificate',
			name: 'certificate',
			type: 'string',
			typeOptions: { rows: 5 },
			default: '',
			placeholder: '-----BEGIN CERTIFICATE-----',
			description:
				'The PEM certificate itself (preferred); leave empty to give its thumbprint instead',
			displayOptions: { show: { authentication: ['certificate'] } },
		},
		{
			displayName: 'Certificate Thumbprint',
			name: 'thumbprint',
			type: 'string',
			default: '',
			description:
				'Thumbprint shown in the app registration, when the certificate is not pasted above',
			displayOptions: { show: { authentication: ['certificate'], certificate: [''] } },
		},
		{
			displayName: 'Allowed Mailboxes',
			name: 'allowedMailboxes',
			type: 'string',
			typeOptions: { rows: 2 },
			default: '',
			placeholder: 'shared@contoso.com, *@support.contoso.com',
			description:
				'Limit the mailboxes this credential may open, whatever a workflow asks for (a Mailbox parameter can come from an expression fed by incoming mail): addresses or *@domain, separated by commas. Empty: every mailbox the app can reach. Scope the app in Exchange too (see the README).',
		},
		{
			displayName: 'Test With',
			name: 'testResource',
			type: 'options',
			options: [
				{ name: 'Microsoft Graph', value: 'graph', description: 'Request a Graph token' },
				{ name: 'IMAP + SMTP', value: 'outlook', description: 'Request an Exchange Online token' },
				{ name: 'Both', value: 'both', description: 'Request both tokens' },
			],
			default: 'both',
			description: 'Which token the credential test requests from Microsoft',
		},
		allowUnauthorizedCertsField,
	];
}

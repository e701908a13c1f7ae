import type { INodeProperties } from 'n8n-workflow';

import { CLOUD_PRESETS } from '../nodes/M365Mail/transport/auth/clouds';

/** `{"global":"https://login.microsoftonline.com",...}` as an expression literal, from the one preset table. */
function presetMap(field: 'loginUrl' | 'graphUrl' | 'outlookResource'): string {
	return JSON.stringify(
		Object.fromEntries(
			Object.entries(CLOUD_PRESETS).map(([name, preset]) => [name, preset[field]]),
		),
	);
}

/** Expression text: the cloud's value of a preset field, or the custom field without trailing slash. */
export function cloudValueExpression(
	field: 'loginUrl' | 'graphUrl' | 'outlookResource',
	customField: string,
): string {
	return `(${presetMap(field)}[$self["cloud"]] || String($self["${customField}"] || "").trim().replace(/\\/+$/, ""))`;
}

const customOnly = { displayOptions: { show: { cloud: ['custom'] } } };

/** Cloud choice and the endpoints of a custom cloud, the same in both credential types. */
export const cloudFields: INodeProperties[] = [
	{
		displayName: 'Cloud',
		name: 'cloud',
		type: 'options',
		options: [
			{
				name: 'Global (Including GCC)',
				value: 'global',
				description: 'login.microsoftonline.com, graph.microsoft.com, outlook.office365.com',
			},
			{
				name: 'US Government GCC High',
				value: 'usGovHigh',
				description: 'login.microsoftonline.us, graph.microsoft.us, outlook.office365.us',
			},
			{
				name: 'US Government DoD',
				value: 'usGovDoD',
				description: 'login.microsoftonline.us, dod-graph.microsoft.us, outlook.office365.us',
			},
			{
				name: 'China (21Vianet)',
				value: 'china',
				description: 'login.chinacloudapi.cn, microsoftgraph.chinacloudapi.cn, partner.outlook.cn',
			},
			{
				name: 'Custom',
				value: 'custom',
				description: 'Your own endpoints, for sovereign deployments or a test server',
			},
		],
		default: 'global',
		description:
			'The Microsoft cloud your tenant lives in. It decides the sign-in host, the Graph host and the IMAP/SMTP hosts; most tenants use Global.',
	},
	{
		displayName: 'Login URL',
		name: 'customLoginUrl',
		type: 'string',
		default: '',
		placeholder: 'https://login.microsoftonline.com',
		description: 'Base URL of the identity platform, without tenant or path',
		required: true,
		...customOnly,
	},
	{
		displayName: 'Graph URL',
		name: 'customGraphUrl',
		type: 'string',
		default: '',
		placeholder: 'https://graph.microsoft.com',
		description: 'Base URL of Microsoft Graph, without version',
		...customOnly,
	},
	{
		displayName: 'IMAP/SMTP Resource',
		name: 'customOutlookResource',
		type: 'string',
		default: 'https://outlook.office.com',
		description: 'The resource (token audience) of the IMAP and SMTP permissions',
		...customOnly,
	},
	{
		displayName: 'IMAP Host',
		name: 'customImapHost',
		type: 'string',
		default: '',
		placeholder: 'outlook.office365.com',
		description: 'Host name of the IMAP server (needed only for IMAP + SMTP access)',
		...customOnly,
	},
	{
		displayName: 'IMAP Port',
		name: 'customImapPort',
		type: 'number',
		default: 993,
		description: 'Port of the IMAP server (993 for TLS)',
		...customOnly,
	},
	{
		displayName: 'IMAP Security',
		name: 'customImapTls',
		type: 'options',
		options: [
			{ name: 'TLS', value: 'tls', description: 'Encrypted from the first byte (port 993)' },
			{ name: 'STARTTLS', value: 'starttls', description: 'Upgrade a plain connection (port 143)' },
		],
		default: 'tls',
		description: 'How the IMAP connection is encrypted',
		...customOnly,
	},
	{
		displayName: 'SMTP Host',
		name: 'customSmtpHost',
		type: 'string',
		default: '',
		placeholder: 'smtp.office365.com',
		description: 'Host name of the SMTP server (needed only for IMAP + SMTP access)',
		...customOnly,
	},
	{
		displayName: 'SMTP Port',
		name: 'customSmtpPort',
		type: 'number',
		default: 587,
		description: 'Port of the SMTP server (587 for STARTTLS)',
		...customOnly,
	},
	{
		displayName: 'SMTP Security',
		name: 'customSmtpTls',
		type: 'options',
		options: [
			{ name: 'STARTTLS', value: 'starttls', description: 'Upgrade a plain connection (port 587)' },
			{ name: 'TLS', value: 'tls', description: 'Encrypted from the first byte (port 465)' },
		],
		default: 'starttls',
		description: 'How the SMTP connection is encrypted',
		...customOnly,
	},
];

/** Turns off certificate checks for this credential's IMAP/SMTP connections only. */
export const allowUnauthorizedCertsField: INodeProperties = {
	displayName: 'Ignore SSL Issues (Insecure)',
	name: 'allowUnauthorizedCerts',
	type: 'boolean',
	default: false,
	description:
		'Whether to connect to IMAP and SMTP even if the server certificate cannot be verified. Leave off: only for a test server with a self-signed certificate. Offered for a custom cloud only.',
	...customOnly,
};

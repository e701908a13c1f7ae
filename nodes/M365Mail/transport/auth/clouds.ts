/** Microsoft clouds: where to sign in, where Graph lives, and where IMAP/SMTP listen. */
import { MailServiceError } from './errors';

export type CloudName = 'global' | 'usGovHigh' | 'usGovDoD' | 'china' | 'custom';

export type TlsMode = 'tls' | 'starttls';

export interface CloudEndpoints {
	name: CloudName;
	/** Base URL of the identity platform, without tenant: `https://login.microsoftonline.com`. */
	loginUrl: string;
	/** Base URL of Microsoft Graph, without version: `https://graph.microsoft.com`. */
	graphUrl: string;
	imapHost: string;
	imapPort: number;
	imapTls: TlsMode;
	smtpHost: string;
	smtpPort: number;
	smtpTls: TlsMode;
	/** Resource (audience) of delegated IMAP/SMTP scopes: `https://outlook.office.com`. */
	outlookResource: string;
	/** Resource whose `.default` scope app-only IMAP/SMTP tokens are requested for. */
	outlookAppResource: string;
}

type Preset = Omit<CloudEndpoints, 'name'>;

/** GCC High and DoD share Exchange Online's US Government hosts. */
const US_GOVERNMENT_EXCHANGE = {
	imapHost: 'outlook.office365.us',
	imapPort: 993,
	imapTls: 'tls',
	smtpHost: 'smtp.office365.us',
	smtpPort: 587,
	smtpTls: 'starttls',
	outlookResource: 'https://outlook.office365.us',
	outlookAppResource: 'https://outlook.office365.us',
} as const;

const PRESETS: Record<Exclude<CloudName, 'custom'>, Preset> = {
	global: {
		loginUrl: 'https://login.microsoftonline.com',
		graphUrl: 'https://graph.microsoft.com',
		imapHost: 'outlook.office365.com',
		imapPort: 993,
		imapTls: 'tls',
		smtpHost: 'smtp.office365.com',
		smtpPort: 587,
		smtpTls: 'starttls',
		outlookResource: 'https://outlook.office.com',
		outlookAppResource: 'https://outlook.office365.com',
	},
	usGovHigh: {
		loginUrl: 'https://login.microsoftonline.us',
		graphUrl: 'https://graph.microsoft.us',
		...US_GOVERNMENT_EXCHANGE,
	},
	usGovDoD: {
		loginUrl: 'https://login.microsoftonline.us',
		graphUrl: 'https://dod-graph.microsoft.us',
		...US_GOVERNMENT_EXCHANGE,
	},
	china: {
		loginUrl: 'https://login.chinacloudapi.cn',
		graphUrl: 'https://microsoftgraph.chinacloudapi.cn',
		imapHost: 'partner.outlook.cn',
		imapPort: 993,
		imapTls: 'tls',
		smtpHost: 'partner.outlook.cn',
		smtpPort: 587,
		smtpTls: 'starttls',
		outlookResource: 'https://partner.outlook.cn',
		outlookAppResource: 'https://partner.outlook.cn',
	},
};

/** The credential fields that decide the cloud (names as in both credential types). */
export interface CloudSettings {
	cloud?: string;
	customLoginUrl?: string;
	customGraphUrl?: string;
	customImapHost?: string;
	customImapPort?: number;
	customImapTls?: string;
	customSmtpHost?: string;
	customSmtpPort?: number;
	customSmtpTls?: string;
	customOutlookResource?: string;
}

function settingsError(message: string): MailServiceError {
	return new MailServiceError(
		message,
		'Correct the cloud settings of the credential.',
		'credential',
	);
}

function cleanUrl(value: string | undefined, field: string): string {
	const text = (value ?? '').trim().replace(/\/+$/, '');
	let url: URL;
	try {
		url = new URL(text);
	} catch {
		// Never echo the value: a secret pasted into the wrong field would reach logs and executions.
		throw settingsError(
			`${field} must be a full URL such as https://login.example.com (the value given, ${text.length} characters, is not)`,
		);
	}
	// n8n's OAuth2 client sends the client secret and refresh token there: plain http only on this machine.
	const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
	if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
		throw settingsError(`${field} must start with https:// (http:// only for localhost)`);
	}
	return text;
}

function cleanPort(value: number | undefined, field: string, fallback: number): number {
	const port = value === undefined || value === null ? fallback : Number(value);
	if (!Number.isInteger(port) || port < 1 || port > 65535) {
		throw settingsError(`${field} must be a port number between 1 and 65535`);
	}
	return port;
}

/** Resolves the endpoints of the cloud a credential names, validating a custom cloud's fields. */
export function resolveCloud(settings: CloudSettings): CloudEndpoints {
	const name = (settings.cloud ?? 'global') as CloudName;
	if (name !== 'custom') {
		const preset = PRESETS[name];
		if (!preset) throw settingsError(`Unknown cloud "${String(settings.cloud)}"`);
		return { name, ...preset };
	}
	const imapHost = (settings.customImapHost ?? '').trim();
	const smtpHost = (settings.customSmtpHost ?? '').trim();
	// The hosts are checked where IMAP or SMTP is used (requireHost): Graph-only clouds leave them empty.
	const outlookResource = cleanUrl(
		settings.customOutlookResource || PRESETS.global.outlookResource,
		'IMAP/SMTP Resource',
	);
	return {
		name,
		loginUrl: cleanUrl(settings.customLoginUrl, 'Login URL'),
		graphUrl: cleanUrl(settings.customGraphUrl, 'Graph URL'),
		imapHost,
		imapPort: cleanPort(settings.customImapPort, 'IMAP Port', 993),
		imapTls: settings.customImapTls === 'starttls' ? 'starttls' : 'tls',
		smtpHost,
		smtpPort: cleanPort(settings.customSmtpPort, 'SMTP Port', 587),
		smtpTls: settings.customSmtpTls === 'tls' ? 'tls' : 'starttls',
		outlookResource,
		outlookAppResource: outlookResource,
	};
}

/** The cloud presets, for tests and documentation. */
export const CLOUD_PRESETS = PRESETS;

/** A custom cloud's IMAP or SMTP host, required only when that protocol is used. */
export function requireHost(cloud: CloudEndpoints, protocol: 'IMAP' | 'SMTP'): string {
	const host = protocol === 'IMAP' ? cloud.imapHost : cloud.smtpHost;
	if (!host)
		throw settingsError(`Custom cloud: ${protocol} Host is required for IMAP + SMTP access`);
	return host;
}

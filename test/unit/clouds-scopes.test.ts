import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Workflow, type INode, type INodeTypes } from 'n8n-workflow';

import { M365MailOAuth2Api } from '../../credentials/M365MailOAuth2Api.credentials';
import {
	CLOUD_PRESETS,
	requireHost,
	resolveCloud,
	type CloudName,
} from '../../nodes/M365Mail/transport/auth/clouds';
import { MailServiceError } from '../../nodes/M365Mail/transport/auth/errors';
import {
	adminConsentUrl,
	appOnlyScope,
	delegatedScopes,
	oauthUrls,
	type DelegatedAccess,
} from '../../nodes/M365Mail/transport/auth/scopes';
import { validateTenant } from '../../nodes/M365Mail/transport/auth/tenant';

const CUSTOM = {
	cloud: 'custom',
	customLoginUrl: 'https://127.0.0.1:8443/',
	customGraphUrl: 'https://127.0.0.1:9443',
	customOutlookResource: 'https://outlook.office.com',
	customImapHost: '127.0.0.1',
	customImapPort: 10993,
	customSmtpHost: '127.0.0.1',
	customSmtpPort: 10587,
};

/** Resolves the credential's hidden expressions the way n8n's credentials helper does. */
function resolveCredentialExpressions(self: Record<string, unknown>): Record<string, string> {
	const node: INode = {
		id: '1',
		name: 'Temp-Node',
		type: 'temp',
		typeVersion: 1,
		position: [0, 0],
		parameters: {},
	};
	const nodeTypes = {
		getByName: () => ({ description: { properties: [] } }),
		getByNameAndVersion: () => ({ description: { properties: [] } }),
		getKnownTypes: () => ({}),
	} as unknown as INodeTypes;
	const workflow = new Workflow({ nodes: [node], connections: {}, active: false, nodeTypes });
	const hidden = Object.fromEntries(
		new M365MailOAuth2Api().properties
			.filter((p) => p.type === 'hidden')
			.map((p) => [p.name, p.default]),
	);
	return workflow.expression.getComplexParameterValue(
		node,
		hidden as never,
		'internal',
		{},
		undefined,
		undefined,
		self,
	) as Record<string, string>;
}

describe('clouds', () => {
	it('global cloud uses Microsoft’s public hosts and the outlook.office.com resource', () => {
		const cloud = resolveCloud({ cloud: 'global' });
		assert.equal(cloud.loginUrl, 'https://login.microsoftonline.com');
		assert.equal(cloud.imapHost, 'outlook.office365.com');
		assert.equal(cloud.imapPort, 993);
		assert.equal(cloud.smtpHost, 'smtp.office365.com');
		assert.equal(cloud.smtpPort, 587);
		assert.equal(cloud.smtpTls, 'starttls');
		assert.equal(cloud.outlookResource, 'https://outlook.office.com');
	});

	it('GCC High changes the login host as well as the Graph host', () => {
		const cloud = resolveCloud({ cloud: 'usGovHigh' });
		assert.equal(cloud.loginUrl, 'https://login.microsoftonline.us');
		assert.equal(cloud.graphUrl, 'https://graph.microsoft.us');
		assert.equal(cloud.imapHost, 'outlook.office365.us');
	});

	it('DoD and China have their own Graph hosts', () => {
		assert.equal(resolveCloud({ cloud: 'usGovDoD' }).graphUrl, 'https://dod-graph.microsoft.us');
		assert.equal(resolveCloud({ cloud: 'china' }).loginUrl, 'https://login.chinacloudapi.cn');
	});

	it('custom cloud takes its fields and strips trailing slashes', () => {
		const cloud = resolveCloud(CUSTOM);
		assert.equal(cloud.loginUrl, 'https://127.0.0.1:8443');
		assert.equal(cloud.imapPort, 10993);
		assert.equal(cloud.imapTls, 'tls');
		assert.equal(cloud.smtpTls, 'starttls');
	});

	it('custom cloud without a valid login URL or IMAP host is refused with the field named', () => {
		assert.throws(
			() => resolveCloud({ ...CUSTOM, customLoginUrl: 'login.example' }),
			/Login URL must be a full URL/,
		);
		// Graph-only custom clouds need no IMAP host; IMAP asks for it when it is used.
		const graphOnly = resolveCloud({ ...CUSTOM, customImapHost: '', customSmtpHost: '' });
		assert.equal(graphOnly.imapHost, '');
		assert.throws(() => requireHost(graphOnly, 'IMAP'), /IMAP Host is required/);
		assert.throws(() => requireHost(graphOnly, 'SMTP'), /SMTP Host is required/);
		assert.equal(requireHost(resolveCloud(CUSTOM), 'IMAP'), CUSTOM.customImapHost);
		assert.throws(() => resolveCloud({ ...CUSTOM, customSmtpPort: 70000 }), /SMTP Port/);
	});

	it('an unknown cloud name is refused', () => {
		assert.throws(() => resolveCloud({ cloud: 'mars' }), MailServiceError);
	});
});

describe('tenant validation', () => {
	it('accepts organizations, common and consumers for delegated sign-in', () => {
		for (const t of ['organizations', 'Common', 'consumers']) {
			assert.equal(validateTenant(t, { appOnly: false }), t.toLowerCase());
		}
	});

	it('accepts a tenant GUID and a domain, trimmed and lower-cased', () => {
		assert.equal(
			validateTenant(' 72F988BF-86F1-41AF-91AB-2D7CD011DB47 ', { appOnly: true }),
			'72f988bf-86f1-41af-91ab-2d7cd011db47',
		);
		assert.equal(
			validateTenant('Contoso.onmicrosoft.com', { appOnly: true }),
			'contoso.onmicrosoft.com',
		);
	});

	it('refuses common and organizations for app-only with a message naming the fix', () => {
		for (const t of ['common', 'organizations']) {
			assert.throws(
				() => validateTenant(t, { appOnly: true }),
				(e: MailServiceError) => e.kind === 'tenant' && /concrete tenant/.test(e.fix),
			);
		}
	});

	it('refuses URLs, empty values and malformed ids', () => {
		for (const t of [
			'https://login.microsoftonline.com/contoso',
			'',
			'not a tenant',
			'1234-5678',
		]) {
			assert.throws(() => validateTenant(t, { appOnly: false }), MailServiceError);
		}
	});
});

describe('scopes and URLs', () => {
	it('Graph access asks for User.Read, Mail.ReadWrite, Mail.Send and offline_access', () => {
		const scopes = delegatedScopes(resolveCloud({ cloud: 'global' }), { access: 'graph' });
		assert.deepEqual(scopes, [
			'openid',
			'profile',
			'email',
			'offline_access',
			'User.Read',
			'Mail.ReadWrite',
			'Mail.Send',
		]);
	});

	it('shared-mailbox access adds the .Shared variants', () => {
		const scopes = delegatedScopes(resolveCloud({ cloud: 'global' }), {
			access: 'graph',
			sharedMailboxes: true,
		});
		assert.ok(scopes.includes('Mail.ReadWrite.Shared') && scopes.includes('Mail.Send.Shared'));
	});

	it('IMAP + SMTP access asks for the outlook resource scopes of the cloud', () => {
		assert.deepEqual(
			delegatedScopes(resolveCloud({ cloud: 'global' }), { access: 'imapSmtp' }).slice(4),
			['https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send'],
		);
		assert.deepEqual(
			delegatedScopes(resolveCloud({ cloud: 'usGovHigh' }), { access: 'imapSmtp' }).slice(4),
			[
				'https://outlook.office365.us/IMAP.AccessAsUser.All',
				'https://outlook.office365.us/SMTP.Send',
			],
		);
	});

	it('national clouds qualify Graph permissions with their Graph host', () => {
		const scopes = delegatedScopes(resolveCloud({ cloud: 'usGovDoD' }), { access: 'graph' });
		assert.ok(scopes.includes('https://dod-graph.microsoft.us/Mail.ReadWrite'));
	});

	it('additional scopes are appended once, split on spaces and commas', () => {
		const scopes = delegatedScopes(resolveCloud({ cloud: 'global' }), {
			access: 'graph',
			additionalScopes: 'Calendars.Read, Mail.Send  Contacts.Read',
		});
		assert.deepEqual(scopes.slice(-2), ['Calendars.Read', 'Contacts.Read']);
		assert.equal(scopes.filter((s) => s === 'Mail.Send').length, 1);
	});

	it('app-only uses one .default scope per resource', () => {
		const cloud = resolveCloud({ cloud: 'global' });
		assert.equal(appOnlyScope(cloud, 'graph'), 'https://graph.microsoft.com/.default');
		assert.equal(appOnlyScope(cloud, 'outlook'), 'https://outlook.office365.com/.default');
		assert.equal(
			appOnlyScope(resolveCloud({ cloud: 'china' }), 'graph'),
			'https://microsoftgraph.chinacloudapi.cn/.default',
		);
	});

	it('authorize and token URLs follow cloud and tenant', () => {
		assert.deepEqual(oauthUrls(resolveCloud({ cloud: 'usGovHigh' }), 'contoso.us'), {
			authUrl: 'https://login.microsoftonline.us/contoso.us/oauth2/v2.0/authorize',
			accessTokenUrl: 'https://login.microsoftonline.us/contoso.us/oauth2/v2.0/token',
		});
	});

	it('the admin-consent URL names tenant and client ID, never "common"', () => {
		const cloud = resolveCloud({ cloud: 'global' });
		assert.equal(
			adminConsentUrl(cloud, 'contoso.com', 'abc'),
			'https://login.microsoftonline.com/contoso.com/adminconsent?client_id=abc',
		);
		assert.match(adminConsentUrl(cloud, 'common', 'abc'), /\/organizations\/adminconsent/);
	});
});

describe('delegated credential expressions', () => {
	const clouds = Object.keys(CLOUD_PRESETS) as CloudName[];
	const cases: { self: Record<string, unknown>; label: string }[] = [];
	for (const cloud of [...clouds, 'custom']) {
		for (const access of ['graph', 'imapSmtp'] as DelegatedAccess[]) {
			for (const sharedMailboxes of [false, true]) {
				cases.push({
					label: `${cloud} ${access}${sharedMailboxes ? ' shared' : ''}`,
					self: {
						...(cloud === 'custom' ? CUSTOM : {}),
						cloud,
						access,
						sharedMailboxes,
						tenant: ' contoso.com ',
						additionalScopes: 'Calendars.Read',
					},
				});
			}
		}
	}
	for (const { label, self } of cases) {
		it(`give the same scopes and URLs as the transport for ${label}`, () => {
			const resolved = resolveCredentialExpressions(self);
			const cloud = resolveCloud(self);
			const expected = delegatedScopes(cloud, {
				access: self.access as DelegatedAccess,
				sharedMailboxes: self.sharedMailboxes as boolean,
				additionalScopes: self.additionalScopes as string,
			});
			assert.deepEqual(resolved.scope.split(' '), expected);
			assert.deepEqual(
				{ authUrl: resolved.authUrl, accessTokenUrl: resolved.accessTokenUrl },
				oauthUrls(cloud, 'contoso.com'),
			);
		});
	}

	it('an empty tenant falls back to organizations in the URLs', () => {
		const resolved = resolveCredentialExpressions({ cloud: 'global', access: 'graph', tenant: '' });
		assert.equal(
			resolved.authUrl,
			'https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize',
		);
	});

	it('uses the authorization-code grant with client credentials in the body', () => {
		const props = Object.fromEntries(
			new M365MailOAuth2Api().properties.map((p) => [p.name, p.default]),
		);
		assert.equal(props.grantType, 'authorizationCode');
		assert.equal(props.authentication, 'body');
	});
});

describe('custom endpoints and TLS', () => {
	const custom = (loginUrl: string) => ({
		cloud: 'custom',
		customLoginUrl: loginUrl,
		customGraphUrl: 'https://graph.example.test',
	});

	it('custom URLs must be https; plain http only on this machine', () => {
		assert.throws(
			() => resolveCloud(custom('http://login.example.test') as never),
			(e: MailServiceError) => /must start with https/.test(e.message),
		);
		assert.equal(
			resolveCloud(custom('http://127.0.0.1:8080') as never).loginUrl,
			'http://127.0.0.1:8080',
		);
		assert.equal(
			resolveCloud(custom('http://localhost:8080') as never).loginUrl,
			'http://localhost:8080',
		);
	});

	it('a value that fails validation is never echoed (a secret pasted in the wrong field)', () => {
		const secret = 'Xq8~notARealSecretButLooksLikeOne.abcdef';
		assert.throws(
			() => resolveCloud(custom(secret) as never),
			(e: MailServiceError) => !e.message.includes(secret) && /40 characters/.test(e.message),
		);
		assert.throws(
			() => validateTenant(secret, { appOnly: true }),
			(e: MailServiceError) => !e.message.includes(secret) && !e.fix.includes(secret),
		);
	});

	it('"Ignore SSL Issues" is honoured for a custom cloud only', async () => {
		const { connectionFromContext } = await import('../../nodes/M365Mail/transport/connection');
		const context = (data: Record<string, unknown>) =>
			({
				getCredentials: async () => ({
					tenant: 'organizations',
					access: 'imapSmtp',
					allowUnauthorizedCerts: true,
					...data,
				}),
				getNode: () => ({ name: 'x' }),
				helpers: {},
			}) as never;
		const global = await connectionFromContext(context({ cloud: 'global' }), 'm365MailOAuth2Api');
		assert.equal(global.allowUnauthorizedCerts, false);
		const local = await connectionFromContext(
			context(custom('https://127.0.0.1:1')),
			'm365MailOAuth2Api',
		);
		assert.equal(local.allowUnauthorizedCerts, true);
	});
});

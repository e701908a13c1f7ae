/**
 * The test tenant: users, apps and mailbox permissions, as an Entra tenant plus Exchange Online would
 * hold them. Every value here is a test fixture, not a real credential.
 */

export const TENANT_ID = '7d0a5c8e-3f4b-4c1a-9e2d-5b6c7d8e9f01';
export const TENANT_DOMAIN = 'example.test';

export const USERS = {
	alice: {
		upn: 'alice@example.test',
		oid: '11111111-1111-4111-8111-111111111111',
		name: 'Alice Archer',
	},
	bob: { upn: 'bob@example.test', oid: '22222222-2222-4222-8222-222222222222', name: 'Bob Baker' },
	carol: {
		upn: 'carol@example.test',
		oid: '33333333-3333-4333-8333-333333333333',
		name: 'Carol Clark',
	},
} as const;

export const MAILBOXES = [
	'alice@example.test',
	'bob@example.test',
	'carol@example.test',
	'shared@example.test',
] as const;

/** Mailboxes with SMTP AUTH switched off (Set-CASMailbox -SmtpClientAuthenticationDisabled $true). */
export const SMTP_AUTH_DISABLED: string[] = ['carol@example.test'];

export interface TestApp {
	clientId: string;
	/** Secrets by value; an expired one answers AADSTS7000222. */
	secrets: { value: string; expired?: boolean }[];
	/** Application permissions with admin consent, by resource (for client credentials). */
	appRoles: Record<string, string[]>;
	/** Whether users may sign in with delegated scopes (admin consent given). */
	delegatedConsent: boolean;
	/** Mailboxes whose service principal has FullAccess (Add-MailboxPermission). */
	mailboxGrants: string[];
}

export const APPS = {
	/** Multi-tenant-style delegated app used by the OAuth2 credential. */
	delegated: {
		clientId: 'a0d3e4f5-0000-4000-8000-00000000d001',
		secrets: [{ value: 'test-delegated-secret' }],
		appRoles: {},
		delegatedConsent: true,
		mailboxGrants: [],
	},
	/** Service app with IMAP.AccessAsApp, granted on shared@ only. */
	service: {
		clientId: 'a0d3e4f5-0000-4000-8000-00000000a001',
		secrets: [{ value: 'test-service-secret' }, { value: 'test-expired-secret', expired: true }],
		appRoles: {
			outlook: ['IMAP.AccessAsApp', 'SMTP.SendAsApp'],
			graph: ['Mail.ReadWrite', 'Mail.Send'],
		},
		delegatedConsent: false,
		mailboxGrants: ['shared@example.test'],
	},
	/** An app nobody consented to. */
	unconsented: {
		clientId: 'a0d3e4f5-0000-4000-8000-00000000c001',
		secrets: [{ value: 'test-unconsented-secret' }],
		appRoles: {},
		delegatedConsent: false,
		mailboxGrants: [],
	},
} satisfies Record<string, TestApp>;

/** Delegated FullAccess: mailbox -> users who may open it (Add-MailboxPermission -User <upn>). */
export const DELEGATED_GRANTS: Record<string, string[]> = {
	'shared@example.test': ['alice@example.test'],
};

export const OUTLOOK_RESOURCE = 'https://outlook.office.com';

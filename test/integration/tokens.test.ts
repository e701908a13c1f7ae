import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { testAppOnlyCredential } from '../../nodes/M365Mail/methods/credentialTest';
import { MailServiceError } from '../../nodes/M365Mail/transport/auth/errors';
import { decodeJwtPayload } from '../../nodes/M365Mail/transport/auth/tokens';
import { connectionFromContext } from '../../nodes/M365Mail/transport/connection';
import { openImapSession } from '../../nodes/M365Mail/transport/imap/session';
import { CredentialStore, createPollContext, runActionNode } from '../harness/n8n';
import {
	ageRefreshToken,
	appOnlyCredential,
	delegatedCredential,
	IMAP_SCOPES,
	signIn,
	stackInfo,
	tokenRequestCounts,
} from '../harness/stack';
import { APPS } from '../stack/directory';

const DELEGATED_NODE = {
	parameters: {
		authentication: 'delegated',
		resource: 'folder',
		operation: 'getAll',
		mailbox: '',
		returnAll: true,
	},
	credentials: { m365MailOAuth2Api: 'cred-delegated' },
};
const APP_ONLY_NODE = {
	parameters: {
		authentication: 'appOnly',
		protocol: 'imap',
		resource: 'folder',
		operation: 'getAll',
		mailbox: 'shared@example.test',
		returnAll: true,
	},
	credentials: { m365MailAppOnlyApi: 'cred-app' },
};

/** Runs the node's credential test on the app-only credential with some fields changed. */
async function appOnlyTest(overrides: Parameters<typeof appOnlyCredential>[0] = {}) {
	return await testAppOnlyCredential({
		id: 'c',
		name: 'c',
		type: 'm365MailAppOnlyApi',
		data: appOnlyCredential(overrides),
	});
}

async function canOpen(
	mailbox: string,
	connection: Awaited<ReturnType<typeof connectionFromContext>>,
): Promise<boolean> {
	try {
		const client = await openImapSession({ ...connection, mailbox });
		await client.logout();
		return true;
	} catch (error) {
		if (error instanceof MailServiceError) return false;
		throw error;
	}
}

describe('delegated tokens for IMAP/SMTP, refreshed through n8n', () => {
	it('uses the stored token while it is fresh, without a refresh', async () => {
		const store = new CredentialStore();
		store.set(
			'cred-delegated',
			delegatedCredential(await signIn('alice@example.test', IMAP_SCOPES)),
		);
		const before = (await tokenRequestCounts()).refresh_token;
		const connection = await connectionFromContext(
			createPollContext(DELEGATED_NODE, store),
			'm365MailOAuth2Api',
		);
		const token = await connection.tokens.getAccessToken('outlook');
		assert.equal(
			token,
			(store.get('cred-delegated').oauthTokenData as { access_token: string }).access_token,
		);
		assert.equal((await tokenRequestCounts()).refresh_token, before);
		assert.equal(store.oauthWrites.length, 0);
	});

	it('refreshes a token near expiry through n8n and persists the rotated refresh token', async () => {
		const store = new CredentialStore();
		const signedIn = await signIn('alice@example.test', IMAP_SCOPES);
		// Two minutes left: inside the refresh window.
		store.set(
			'cred-delegated',
			delegatedCredential({ ...signedIn, n8n_expires_at: String(Date.now() + 120_000) }),
		);
		const connection = await connectionFromContext(
			createPollContext(DELEGATED_NODE, store),
			'm365MailOAuth2Api',
		);
		const token = await connection.tokens.getAccessToken('outlook');
		assert.notEqual(token, signedIn.access_token);
		assert.equal(store.oauthWrites.length, 1);
		const persisted = store.get('cred-delegated').oauthTokenData as Record<string, string>;
		assert.ok(
			persisted.refresh_token && persisted.refresh_token !== signedIn.refresh_token,
			'rotated refresh token persisted',
		);
		assert.equal(persisted.access_token, token);
		assert.ok(Number(persisted.n8n_expires_at) > Date.now() + 30 * 60_000);
		assert.equal(decodeJwtPayload(token)?.upn, 'alice@example.test');
		assert.equal(await canOpen('alice@example.test', connection), true);
	});

	it('a refreshed token opens IMAP after the stored one expired, and names the mailbox from the id_token', async () => {
		const store = new CredentialStore();
		const signedIn = await signIn('alice@example.test', IMAP_SCOPES);
		store.set(
			'cred-delegated',
			delegatedCredential({ ...signedIn, n8n_expires_at: String(Date.now() - 1000) }),
		);
		const output = await runActionNode(DELEGATED_NODE, store);
		assert.ok(output[0].length >= 6);
		assert.equal(output[0][0].json.mailbox, 'alice@example.test');
		assert.equal(output[0][0].json.path, 'Inbox');
		assert.deepEqual(output[0][0].pairedItem, { item: 0 });
		assert.equal(store.oauthWrites.length, 1);
	});

	it('a revoked refresh token gives "reconnect the credential", without the token in the message', async () => {
		const store = new CredentialStore();
		const signedIn = await signIn('alice@example.test', IMAP_SCOPES);
		await ageRefreshToken(String(signedIn.refresh_token), 'revoke');
		store.set(
			'cred-delegated',
			delegatedCredential({ ...signedIn, n8n_expires_at: String(Date.now() - 1000) }),
		);
		await assert.rejects(
			runActionNode(DELEGATED_NODE, store),
			(error: Error & { description?: string }) => {
				assert.match(`${error.message} ${error.description}`, /Reconnect/i);
				assert.doesNotMatch(JSON.stringify(error), new RegExp(String(signedIn.refresh_token)));
				return true;
			},
		);
	});

	it('a Graph-only credential asked for IMAP says which access to choose', async () => {
		const store = new CredentialStore();
		store.set(
			'cred-delegated',
			delegatedCredential(await signIn('alice@example.test', IMAP_SCOPES), { access: 'graph' }),
		);
		// The nodes follow the credential's access; a transport asking for the other resource is told.
		const connection = await connectionFromContext(
			createPollContext(DELEGATED_NODE, store),
			'm365MailOAuth2Api',
		);
		await assert.rejects(connection.tokens.getAccessToken('outlook'), /set up for Microsoft Graph/);
	});

	it('a never-connected credential says to click Connect', async () => {
		const store = new CredentialStore();
		store.set('cred-delegated', delegatedCredential({}));
		await assert.rejects(runActionNode(DELEGATED_NODE, store), /not connected/);
	});
});

describe('app-only tokens through MSAL against the local token endpoint', () => {
	it('issues tokens for Graph and for IMAP/SMTP, each with its own audience and the app roles', async () => {
		const store = new CredentialStore();
		store.set('cred-app', appOnlyCredential());
		const connection = await connectionFromContext(
			createPollContext(APP_ONLY_NODE, store),
			'm365MailAppOnlyApi',
		);
		const graph = decodeJwtPayload(await connection.tokens.getAccessToken('graph'));
		const outlook = decodeJwtPayload(await connection.tokens.getAccessToken('outlook'));
		assert.equal(graph?.aud, stackInfo().graphUrl);
		assert.deepEqual(graph?.roles, ['Mail.ReadWrite', 'Mail.Send']);
		assert.equal(outlook?.aud, 'https://outlook.office.com');
		assert.deepEqual(outlook?.roles, ['IMAP.AccessAsApp', 'SMTP.SendAsApp']);
		assert.equal(outlook?.upn, undefined);
	});

	it('serves the second request for the same resource from MSAL’s cache', async () => {
		const store = new CredentialStore();
		store.set('cred-app', appOnlyCredential());
		const connection = await connectionFromContext(
			createPollContext(APP_ONLY_NODE, store),
			'm365MailAppOnlyApi',
		);
		await connection.tokens.getAccessToken('outlook');
		const before = (await tokenRequestCounts()).client_credentials;
		await connection.tokens.getAccessToken('outlook');
		const again = await connectionFromContext(
			createPollContext(APP_ONLY_NODE, store),
			'm365MailAppOnlyApi',
		);
		await again.tokens.getAccessToken('outlook');
		assert.equal((await tokenRequestCounts()).client_credentials, before);
	});

	it('opens only the mailbox granted to the app', async () => {
		const store = new CredentialStore();
		store.set('cred-app', appOnlyCredential());
		const connection = await connectionFromContext(
			createPollContext(APP_ONLY_NODE, store),
			'm365MailAppOnlyApi',
		);
		assert.equal(await canOpen('shared@example.test', connection), true);
		assert.equal(await canOpen('alice@example.test', connection), false);
	});

	it('lists the granted mailbox’s folders through the action node', async () => {
		const store = new CredentialStore();
		store.set('cred-app', appOnlyCredential());
		const output = await runActionNode(APP_ONLY_NODE, store);
		assert.equal(output[0][0].json.mailbox, 'shared@example.test');
	});

	it('authenticates with a certificate (PEM certificate or its thumbprint) instead of a secret', async () => {
		const info = stackInfo();
		const certificate = readFileSync(info.appCertPath, 'utf8');
		const privateKey = readFileSync(info.appKeyPath, 'utf8');
		const withCert = await appOnlyTest({
			authentication: 'certificate',
			clientSecret: '',
			privateKey,
			certificate,
		});
		assert.equal(withCert.status, 'OK', withCert.message);
		const { X509Certificate } = await import('node:crypto');
		const thumbprint = new X509Certificate(certificate).fingerprint256.replace(/:/g, '');
		const withThumb = await appOnlyTest({
			authentication: 'certificate',
			clientSecret: '',
			privateKey,
			thumbprint,
		});
		assert.equal(withThumb.status, 'OK', withThumb.message);
	});

	it('the credential test reports a wrong secret as "paste the secret VALUE", without the secret', async () => {
		const result = await appOnlyTest({ clientSecret: 'wrong-secret-value-123' });
		assert.equal(result.status, 'Error');
		assert.match(result.message, /AADSTS7000215/);
		assert.match(result.message, /VALUE/);
		assert.doesNotMatch(result.message, /wrong-secret-value-123/);
	});

	it('the credential test reports an expired secret', async () => {
		const result = await appOnlyTest({ clientSecret: APPS.service.secrets[1].value });
		assert.match(result.message, /expired/);
		assert.match(result.message, /AADSTS7000222/);
	});

	it('the credential test reports an unknown client ID', async () => {
		const result = await appOnlyTest({ clientId: '99999999-0000-4000-8000-000000000000' });
		assert.match(result.message, /AADSTS700016/);
	});

	it('refuses "organizations" as the app-only tenant before any request', async () => {
		const before = (await tokenRequestCounts()).client_credentials;
		const result = await appOnlyTest({ tenant: 'organizations' });
		assert.equal(result.status, 'Error');
		assert.match(result.message, /concrete tenant/);
		assert.equal((await tokenRequestCounts()).client_credentials, before);
	});

	it('the credential test passes for a good credential', async () => {
		const result = await appOnlyTest();
		assert.equal(result.status, 'OK');
	});

	it('with Allowed Mailboxes, the credential test opens the first listed mailbox and says which grant is missing', async () => {
		const granted = await appOnlyTest({ allowedMailboxes: 'shared@example.test, *@example.test' });
		assert.equal(granted.status, 'OK');
		assert.match(granted.message, /opened the inbox of shared@example\.test/);
		const refused = await appOnlyTest({
			allowedMailboxes: 'bob@example.test',
			testResource: 'outlook',
		});
		assert.equal(refused.status, 'Error');
		assert.match(refused.message, /bob@example\.test/);
		assert.match(refused.message, /Add-MailboxPermission|service principal|FullAccess/i);
	});
});

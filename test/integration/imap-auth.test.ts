import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { resolveCloud } from '../../nodes/M365Mail/transport/auth/clouds';
import { MailServiceError } from '../../nodes/M365Mail/transport/auth/errors';
import type { AccessTokenProvider } from '../../nodes/M365Mail/transport/auth/tokens';
import { openImapSession } from '../../nodes/M365Mail/transport/imap/session';
import { APPS } from '../stack/directory';
import type { MintOptions } from '../stack/oauth-server';
import { customCloudFields, mintToken, stackInfo } from '../harness/stack';
import { startStack } from '../stack/index';

/** Hands out tokens the test minted, counting how often it was asked (no refresh logic). */
function mintedTokens(
	first: MintOptions,
	later: MintOptions = first,
	kind: 'delegated' | 'appOnly' = 'delegated',
) {
	const provider = {
		kind,
		calls: 0,
		async getAccessToken() {
			return await mintToken(provider.calls++ === 0 ? first : later);
		},
		async signedInMailbox() {
			return undefined;
		},
	};
	return provider as AccessTokenProvider & { calls: number };
}

async function tryLogin(
	mailbox: string,
	tokens: AccessTokenProvider,
): Promise<string[] | MailServiceError> {
	try {
		const client = await openImapSession({
			cloud: resolveCloud(customCloudFields()),
			tokens,
			mailbox,
		});
		try {
			return (await client.list()).map((f) => f.path);
		} finally {
			await client.logout();
		}
	} catch (error) {
		if (error instanceof MailServiceError) return error;
		throw error;
	}
}

const SERVICE_APP = { appId: APPS.service.clientId, roles: ['IMAP.AccessAsApp'] };

describe('Dovecot accepts and refuses XOAUTH2 tokens as Exchange does', () => {
	it('accepts alice’s own token for alice’s mailbox and lists Exchange-style folders', async () => {
		const result = await tryLogin(
			'alice@example.test',
			mintedTokens({ upn: 'alice@example.test' }),
		);
		assert.ok(Array.isArray(result), String(result));
		assert.ok(
			result.includes('INBOX') && result.includes('Sent Items') && result.includes('Deleted Items'),
		);
	});

	it('refuses an expired token, with a message naming the IMAP scope and mailbox settings', async () => {
		const result = await tryLogin(
			'alice@example.test',
			mintedTokens({ upn: 'alice@example.test', expiresIn: -120 }),
		);
		assert.ok(result instanceof MailServiceError);
		assert.match(result.message, /AUTHENTICATE failed/);
		assert.match(result.fix, /IMAP.AccessAsUser.All/);
	});

	it('refuses a token for another audience (a Graph token)', async () => {
		const result = await tryLogin(
			'alice@example.test',
			mintedTokens({ upn: 'alice@example.test', audience: 'https://graph.microsoft.com' }),
		);
		assert.ok(result instanceof MailServiceError);
	});

	it('refuses a token signed by an unknown key', async () => {
		const result = await tryLogin(
			'alice@example.test',
			mintedTokens({ upn: 'alice@example.test', foreignKey: true }),
		);
		assert.ok(result instanceof MailServiceError);
	});

	it('lets alice open shared@ (FullAccess granted) with her own token', async () => {
		const result = await tryLogin(
			'shared@example.test',
			mintedTokens({ upn: 'alice@example.test' }),
		);
		assert.ok(Array.isArray(result), String(result));
	});

	it('refuses bob on shared@ (not granted)', async () => {
		const result = await tryLogin('shared@example.test', mintedTokens({ upn: 'bob@example.test' }));
		assert.ok(result instanceof MailServiceError);
	});

	it('refuses alice’s token for bob’s mailbox', async () => {
		const result = await tryLogin('bob@example.test', mintedTokens({ upn: 'alice@example.test' }));
		assert.ok(result instanceof MailServiceError);
	});

	it('lets an app-only token with IMAP.AccessAsApp open the mailbox granted to the app', async () => {
		const result = await tryLogin(
			'shared@example.test',
			mintedTokens(SERVICE_APP, SERVICE_APP, 'appOnly'),
		);
		assert.ok(Array.isArray(result), String(result));
	});

	it('refuses the same app-only token for a mailbox not granted, naming the service-principal steps', async () => {
		const result = await tryLogin(
			'alice@example.test',
			mintedTokens(SERVICE_APP, SERVICE_APP, 'appOnly'),
		);
		assert.ok(result instanceof MailServiceError);
		assert.match(result.fix, /New-ServicePrincipal/);
	});

	it('refuses an app-only token without the IMAP.AccessAsApp role', async () => {
		const noRole = { appId: APPS.service.clientId, roles: [] };
		const result = await tryLogin('shared@example.test', mintedTokens(noRole, noRole, 'appOnly'));
		assert.ok(result instanceof MailServiceError);
	});

	it('after a refused token, asks once for a fresh token and signs in with it', async () => {
		const tokens = mintedTokens(
			{ upn: 'alice@example.test', expiresIn: -120 },
			{ upn: 'alice@example.test' },
		);
		const result = await tryLogin('alice@example.test', tokens);
		assert.ok(Array.isArray(result), String(result));
		assert.equal(tokens.calls, 2);
	});

	it('a refused token whose refresh fails too: the error names both the refusal and the refresh failure', async () => {
		let calls = 0;
		const tokens = {
			kind: 'delegated' as const,
			async getAccessToken() {
				if (calls++ === 0)
					return await mintToken({
						upn: 'alice@example.test',
						audience: 'https://graph.microsoft.com',
					});
				throw new MailServiceError(
					'The refresh token was revoked',
					'Reconnect the credential.',
					'reconnect',
					'AADSTS70008',
				);
			},
			async signedInMailbox() {
				return undefined;
			},
		} as AccessTokenProvider;
		const result = await tryLogin('alice@example.test', tokens);
		assert.ok(result instanceof MailServiceError);
		assert.match(result.message, /AUTHENTICATE|refused|sign/i);
		assert.match(
			result.message,
			/getting a new token to try again failed too: The refresh token was revoked/,
		);
		assert.match(result.fix, /Reconnect the credential/);
		assert.match(String(result.code), /AADSTS70008/);
		assert.equal(calls, 2);
	});

	it('refuses a malformed mailbox before connecting', async () => {
		const tokens = mintedTokens({ upn: 'alice@example.test' });
		const result = await tryLogin('not a mailbox', tokens);
		assert.ok(result instanceof MailServiceError);
		assert.equal(tokens.calls, 0);
	});

	it('refuses a second stack in the running stack’s folder, which would break its sign-ins', async () => {
		await assert.rejects(startStack({ dir: stackInfo().dir }), /Another stack is running in/);
		const result = await tryLogin(
			'alice@example.test',
			mintedTokens({ upn: 'alice@example.test' }),
		);
		assert.ok(Array.isArray(result), String(result));
	});
});

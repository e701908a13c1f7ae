import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
	mapImapAuthError,
	mapNetworkError,
	mapSmtpError,
} from '../../nodes/M365Mail/transport/auth/connectionErrors';
import { mapAadError, redactSecrets } from '../../nodes/M365Mail/transport/auth/errors';

const FAKE_JWT =
	'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1cG4iOiJhbGljZUBleGFtcGxlLnRlc3QifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

describe('mapping Microsoft sign-in errors', () => {
	const table: [string, RegExp, string][] = [
		['AADSTS65001', /consent/i, 'consent'],
		['AADSTS90094', /admin/i, 'consent'],
		['AADSTS50076', /Reconnect/, 'reconnect'],
		['AADSTS53003', /Conditional Access/, 'policy'],
		['AADSTS700016', /Client ID/, 'credential'],
		['AADSTS7000215', /VALUE/, 'credential'],
		['AADSTS7000222', /new client secret/, 'credential'],
		['AADSTS50020', /member account/, 'tenant'],
		['AADSTS500011', /resource host/, 'consent'],
		['AADSTS700022', /one resource/, 'scope'],
		['AADSTS70011', /scopes/, 'scope'],
		['AADSTS50194', /\(tenant\) ID/, 'tenant'],
		['AADSTS9001023', /\(tenant\) ID/, 'tenant'],
		['AADSTS50011', /Web/, 'credential'],
		['AADSTS700082', /Reconnect/, 'reconnect'],
		['AADSTS70008', /Reconnect/, 'reconnect'],
		['AADSTS50173', /Reconnect/, 'reconnect'],
		['AADSTS70043', /Reconnect/, 'reconnect'],
	];
	for (const [code, fix, kind] of table) {
		it(`${code} names the fix and keeps the code`, () => {
			const error = mapAadError({
				error: 'invalid_request',
				error_description: `${code}: something happened. Trace ID: x`,
			});
			assert.match(error.fix, fix);
			assert.equal(error.kind, kind);
			assert.equal(error.code, code);
		});
	}

	it('reads the code from error_codes when the description lacks it', () => {
		assert.equal(
			mapAadError({ error: 'invalid_client', error_codes: [7000222] }).code,
			'AADSTS7000222',
		);
	});

	it('adds the admin-consent URL to consent errors', () => {
		const error = mapAadError('AADSTS65001: no consent', {
			consentUrl: 'https://login.example/t/adminconsent?client_id=c',
		});
		assert.match(error.fix, /adminconsent\?client_id=c/);
	});

	it('turns a bare invalid_grant into "reconnect the credential"', () => {
		const error = mapAadError({ error: 'invalid_grant', error_description: 'grant is bad' });
		assert.equal(error.kind, 'reconnect');
	});

	it('never echoes a token or secret from the text it maps', () => {
		const error = mapAadError(
			`weird failure access_token=${FAKE_JWT} client_secret=hunter2hunter2`,
		);
		assert.doesNotMatch(error.message, /eyJ|hunter2/);
	});
});

describe('mapping IMAP and SMTP errors', () => {
	it('AUTHENTICATE failed for app-only names the Enterprise-application object ID', () => {
		const error = mapImapAuthError(
			{ authenticationFailed: true, responseText: 'AUTHENTICATE failed.' },
			'shared@contoso.com',
			true,
		);
		assert.match(error.fix, /ENTERPRISE APPLICATION/);
		assert.match(error.fix, /Add-MailboxPermission/);
	});

	it('AUTHENTICATE failed for a delegated credential names the IMAP scope and mailbox settings', () => {
		const error = mapImapAuthError(
			{ authenticationFailed: true, responseText: 'AUTHENTICATE failed.' },
			'a@contoso.com',
			false,
		);
		assert.match(error.fix, /IMAP.AccessAsUser.All/);
	});

	it('"authenticated but not connected" means no access to the mailbox', () => {
		const error = mapImapAuthError(
			{ responseText: 'User is authenticated but not connected.' },
			'shared@contoso.com',
			false,
		);
		assert.equal(error.kind, 'mailboxAccess');
		assert.match(error.fix, /FullAccess/);
	});

	it('SMTP 535 names SMTP AUTH and Set-CASMailbox', () => {
		const error = mapSmtpError(
			{ responseCode: 535, response: '535 5.7.3 Authentication unsuccessful' },
			'a@contoso.com',
		);
		assert.match(error.fix, /SmtpClientAuthenticationDisabled/);
	});

	it('SendAsDenied names Send As', () => {
		const error = mapSmtpError(
			{ responseCode: 554, response: '554 5.2.252 SendAsDenied; a not allowed' },
			'a@contoso.com',
		);
		assert.match(error.fix, /Send As/);
	});

	it('certificate errors never suggest turning checks off first', () => {
		const error = mapNetworkError(
			{ code: 'SELF_SIGNED_CERT_IN_CHAIN', message: 'self-signed certificate' },
			'IMAP',
		);
		assert.match(error.fix, /NODE_EXTRA_CA_CERTS/);
	});

	it('connection refused says the next poll tries again', () => {
		assert.match(
			mapNetworkError({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, 'IMAP').fix,
			/next poll/,
		);
	});
});

describe('redacting secrets', () => {
	it('removes JWTs, bearer tokens, XOAUTH2 strings, secrets and private keys', () => {
		const text = [
			`Authorization: Bearer ${FAKE_JWT}`,
			'user=a@b.c\x01auth=Bearer abc.def.ghi\x01\x01',
			'client_secret=s3cr3t-value&refresh_token=0.AAAA',
			'-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----',
		].join('\n');
		const out = redactSecrets(text);
		assert.doesNotMatch(out, /eyJ|abc\.def\.ghi|s3cr3t|0\.AAAA|MIIE/);
	});

	it('removes bare Entra refresh tokens, bare client secrets and short XOAUTH2 strings', () => {
		const refresh = `0.AXoA${'k3Jd-8_q'.repeat(30)}.AgABAAEAAAD`;
		const secret = 'Abc8Q~Zk1vZ2tJx9w0vQ3yN5mL7pR_tU2sE.4gHi';
		const xoauth = Buffer.from('user=a@b.c\x01auth=Bearer x\x01\x01').toString('base64');
		const out = redactSecrets(`refresh ${refresh} secret ${secret} sasl ${xoauth}`);
		for (const leaked of [refresh.slice(0, 30), secret, xoauth])
			assert.ok(!out.includes(leaked), out);
	});

	it('keeps diagnostics that only look like secrets by name (errorCode, statusCode)', () => {
		const out = redactSecrets('{"errorCode":"ErrorItemNotFound","statusCode":404} code=abc');
		assert.match(out, /"errorCode":"ErrorItemNotFound"/);
		assert.match(out, /"statusCode":404/);
		assert.match(out, /code=\[redacted\]/);
	});
});

describe('errors that reach n8n', () => {
	it('a library error that quotes a token is redacted in the node error', async () => {
		const { toNodeError } = await import('../../nodes/M365Mail/shared/errors');
		const node = {
			name: 'x',
			type: 'x',
			typeVersion: 1,
			position: [0, 0],
			parameters: {},
		} as never;
		const xoauth = Buffer.from('user=a@b.c\x01auth=Bearer token\x01\x01').toString('base64');
		const error = toNodeError(node, new Error(`AUTHENTICATE XOAUTH2 ${xoauth} failed`));
		assert.ok(!error.message.includes(xoauth), error.message);
	});
});

describe('mapping Graph errors', () => {
	it('any 410 Gone is dead delta state (a new baseline), whatever its code', async () => {
		const { mapGraphError } = await import('../../nodes/M365Mail/transport/graph/errors');
		for (const code of ['syncStateNotFound', 'resyncRequired', 'SomethingMicrosoftAddsLater', '']) {
			assert.equal(mapGraphError(410, code, 'gone', 'a@b.test', false).kind, 'syncState', code);
		}
		assert.equal(mapGraphError(404, 'SomethingElse', 'x', 'a@b.test', false).kind, 'unknown');
	});
});

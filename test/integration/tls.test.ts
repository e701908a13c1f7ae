import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { listFolder } from '../harness/mail';
import { customCloudFields, mintToken, stackInfo } from '../harness/stack';

const root = join(__dirname, '..', '..');

interface Outcome {
	ok: boolean;
	message?: string;
	fix?: string;
	kind?: string;
}

/**
 * Signs in over IMAP and sends over SMTP to the stack's 127.0.0.1 through the package's transport, in
 * a process of its own (test/harness/tls-probe.ts): with the stack's CA trusted or not, and with
 * "Ignore SSL Issues" on or off.
 */
async function probe(options: {
	trustStackCa: boolean;
	allowUnauthorizedCerts: boolean;
	/** Both hosts (the stack's are 127.0.0.1). */
	host?: string;
	/**
	 * The credential's other security choices: IMAP over STARTTLS (143-style) and SMTP with TLS from
	 * the first byte (465-style), where the defaults are IMAP over TLS and SMTP over STARTTLS.
	 */
	otherSecurity?: boolean;
}) {
	const subject = `tls probe ${options.trustStackCa ? 'trusted' : 'untrusted'} ${
		options.allowUnauthorizedCerts ? 'ignored' : 'checked'
	} ${Date.now()}`;
	const env = { ...process.env };
	if (!options.trustStackCa) delete env.NODE_EXTRA_CA_CERTS;
	env.TLS_PROBE = JSON.stringify({
		cloud: {
			...customCloudFields(),
			...(options.host ? { customImapHost: options.host, customSmtpHost: options.host } : {}),
			...(options.otherSecurity
				? {
						customImapTls: 'starttls',
						customImapPort: stackInfo().imapPort,
						customSmtpTls: 'tls',
						customSmtpPort: stackInfo().smtpsPort,
					}
				: {}),
		},
		mailbox: 'alice@example.test',
		to: 'bob@example.test',
		token: await mintToken({ upn: 'alice@example.test' }),
		allowUnauthorizedCerts: options.allowUnauthorizedCerts,
		subject,
	});
	const run = spawnSync(process.execPath, ['--import', 'tsx', 'test/harness/tls-probe.ts'], {
		cwd: root,
		env,
		encoding: 'utf8',
		timeout: 60_000,
	});
	assert.equal(run.status, 0, run.stderr);
	const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as {
		imap: Outcome;
		smtp: Outcome;
		warnings: string[];
	};
	return { ...result, subject, stderr: run.stderr };
}

async function inBobsInbox(subject: string, waitMs: number): Promise<boolean> {
	const deadline = Date.now() + waitMs;
	for (;;) {
		if ((await listFolder('INBOX', 'bob@example.test')).some((m) => m.subject === subject))
			return true;
		if (Date.now() > deadline) return false;
		await new Promise((r) => setTimeout(r, 200));
	}
}

describe('TLS to a custom IMAP and SMTP endpoint given as an IP address', () => {
	it('with the server’s CA trusted: signs in and sends, the certificate checked against the address, and Node gives no DEP0123 warning (an IP address is no TLS server name)', async () => {
		const result = await probe({ trustStackCa: true, allowUnauthorizedCerts: false });
		assert.deepEqual(result.imap, { ok: true });
		assert.deepEqual(result.smtp, { ok: true });
		assert.ok(!result.warnings.includes('DEP0123'), `warnings: ${result.warnings.join(', ')}`);
		assert.doesNotMatch(result.stderr, /DEP0123|ServerName to an IP address/);
		assert.ok(await inBobsInbox(result.subject, 15_000), 'the message sent did not arrive');
	});

	it('with the CA not trusted: both refused with an error that names the fix, nothing sent; with "Ignore SSL Issues" on, both work', async () => {
		const refused = await probe({ trustStackCa: false, allowUnauthorizedCerts: false });
		for (const [protocol, outcome] of [
			['IMAP', refused.imap],
			['SMTP', refused.smtp],
		] as const) {
			assert.equal(outcome.ok, false, `${protocol} connected to an untrusted server`);
			assert.match(
				outcome.message ?? '',
				new RegExp(`^${protocol}: the server's TLS certificate was not trusted`),
			);
			assert.match(outcome.fix ?? '', /NODE_EXTRA_CA_CERTS/);
			assert.match(outcome.fix ?? '', /Ignore SSL Issues/);
		}
		const ignored = await probe({ trustStackCa: false, allowUnauthorizedCerts: true });
		assert.deepEqual(ignored.imap, { ok: true });
		assert.deepEqual(ignored.smtp, { ok: true });
		// The one sent after the refused one arrived; the refused one did not.
		assert.ok(await inBobsInbox(ignored.subject, 15_000), 'the message sent did not arrive');
		assert.equal(await inBobsInbox(refused.subject, 0), false, 'a refused send was delivered');
	});

	it('with the CA trusted but a host name the certificate does not name: both refused, nothing sent', async () => {
		// "127.1" resolves to 127.0.0.1, the stack's address, but is not a name in its certificate
		// (localhost, 127.0.0.1): the name is checked, not only the CA.
		const refused = await probe({
			trustStackCa: true,
			allowUnauthorizedCerts: false,
			host: '127.1',
		});
		for (const [protocol, outcome] of [
			['IMAP', refused.imap],
			['SMTP', refused.smtp],
		] as const) {
			assert.equal(outcome.ok, false, `${protocol} accepted a certificate for another name`);
			assert.match(
				outcome.message ?? '',
				/TLS certificate was not trusted \(ERR_TLS_CERT_ALTNAME_INVALID\)/,
			);
			assert.match(outcome.fix ?? '', /Check the host name/);
		}
		const sent = await probe({ trustStackCa: true, allowUnauthorizedCerts: false });
		assert.deepEqual(sent.smtp, { ok: true });
		assert.ok(await inBobsInbox(sent.subject, 15_000), 'the message sent did not arrive');
		assert.equal(await inBobsInbox(refused.subject, 0), false, 'a refused send was delivered');
	});

	it('the credential’s other security choices, IMAP over STARTTLS (143) and SMTP with TLS from the start (465): sign in and send with the CA trusted, both refused with the fix when it is not', async () => {
		const trusted = await probe({
			trustStackCa: true,
			allowUnauthorizedCerts: false,
			otherSecurity: true,
		});
		assert.deepEqual(trusted.imap, { ok: true });
		assert.deepEqual(trusted.smtp, { ok: true });
		assert.ok(!trusted.warnings.includes('DEP0123'), `warnings: ${trusted.warnings.join(', ')}`);
		const refused = await probe({
			trustStackCa: false,
			allowUnauthorizedCerts: false,
			otherSecurity: true,
		});
		for (const [protocol, outcome] of [
			['IMAP', refused.imap],
			['SMTP', refused.smtp],
		] as const) {
			assert.equal(outcome.ok, false, `${protocol} connected to an untrusted server`);
			assert.match(
				outcome.message ?? '',
				new RegExp(`^${protocol}: the server's TLS certificate was not trusted`),
			);
			assert.match(outcome.fix ?? '', /NODE_EXTRA_CA_CERTS/);
		}
		assert.ok(await inBobsInbox(trusted.subject, 15_000), 'the message sent did not arrive');
		assert.equal(await inBobsInbox(refused.subject, 0), false, 'a refused send was delivered');
	});
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
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

type Security = { imap: ['tls' | 'starttls', number]; smtp: ['tls' | 'starttls', number] };

/** IMAP over STARTTLS (143-style) and SMTP with TLS from the first byte (465-style): not the defaults. */
const otherSecurity = (): Security => ({
	imap: ['starttls', stackInfo().imapPort],
	smtp: ['tls', stackInfo().smtpsPort],
});

/** The IMAP and SMTP outcomes of a probe, named. */
const both = (result: { imap: Outcome; smtp: Outcome }) =>
	[
		['IMAP', result.imap],
		['SMTP', result.smtp],
	] as const;

/** Both signed in (IMAP) and sent (SMTP), with no DEP0123 warning. */
function assertBothWorked(result: { imap: Outcome; smtp: Outcome; warnings: string[] }): void {
	assert.deepEqual(result.imap, { ok: true });
	assert.deepEqual(result.smtp, { ok: true });
	assert.ok(!result.warnings.includes('DEP0123'), `warnings: ${result.warnings.join(', ')}`);
}

/** Both refused for a certificate n8n does not trust, with the fix named. */
function assertUntrusted(result: { imap: Outcome; smtp: Outcome }): void {
	for (const [protocol, outcome] of both(result)) {
		assert.equal(outcome.ok, false, `${protocol} connected to an untrusted server`);
		assert.match(
			outcome.message ?? '',
			new RegExp(`^${protocol}: the server's TLS certificate was not trusted`),
		);
		assert.match(outcome.fix ?? '', /NODE_EXTRA_CA_CERTS/);
		assert.match(outcome.fix ?? '', /Ignore SSL Issues/);
	}
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
	/** Each protocol's security setting and port, where the stack's defaults do not apply. */
	security?: Security;
}) {
	const subject = `tls probe ${options.trustStackCa ? 'trusted' : 'untrusted'} ${
		options.allowUnauthorizedCerts ? 'ignored' : 'checked'
	} ${Date.now()}`;
	const token = await mintToken({ upn: 'alice@example.test' });
	const env = { ...process.env };
	if (!options.trustStackCa) delete env.NODE_EXTRA_CA_CERTS;
	env.TLS_PROBE = JSON.stringify({
		cloud: {
			...customCloudFields(),
			...(options.host ? { customImapHost: options.host, customSmtpHost: options.host } : {}),
			...(options.security
				? {
						customImapTls: options.security.imap[0],
						customImapPort: options.security.imap[1],
						customSmtpTls: options.security.smtp[0],
						customSmtpPort: options.security.smtp[1],
					}
				: {}),
		},
		mailbox: 'alice@example.test',
		to: 'bob@example.test',
		token,
		allowUnauthorizedCerts: options.allowUnauthorizedCerts,
		subject,
	});
	// Not spawnSync: a test's own servers (below) must keep answering while the probe runs.
	const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
		const child = execFile(
			process.execPath,
			['--import', 'tsx', 'test/harness/tls-probe.ts'],
			{ cwd: root, env, encoding: 'utf8', timeout: 60_000 },
			(error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
		);
		child.stdin?.end();
	});
	assert.equal(run.code, 0, run.stderr);
	const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as {
		imap: Outcome;
		smtp: Outcome;
		warnings: string[];
	};
	return { ...result, subject, token, stderr: run.stderr };
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

describe('TLS to custom IMAP and SMTP endpoints (the stack at 127.0.0.1): trust, names, security settings', () => {
	it('with the server’s CA trusted: signs in and sends, the certificate checked against the address, and Node gives no DEP0123 warning (an IP address is no TLS server name)', async () => {
		const result = await probe({ trustStackCa: true, allowUnauthorizedCerts: false });
		assertBothWorked(result);
		assert.doesNotMatch(result.stderr, /DEP0123|ServerName to an IP address/);
		assert.ok(await inBobsInbox(result.subject, 15_000), 'the message sent did not arrive');
	});

	it('with the CA not trusted: both refused with an error that names the fix, nothing sent; with "Ignore SSL Issues" on, both work', async () => {
		const refused = await probe({ trustStackCa: false, allowUnauthorizedCerts: false });
		assertUntrusted(refused);
		const ignored = await probe({ trustStackCa: false, allowUnauthorizedCerts: true });
		assertBothWorked(ignored);
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
		for (const [protocol, outcome] of both(refused)) {
			assert.equal(outcome.ok, false, `${protocol} accepted a certificate for another name`);
			assert.match(
				outcome.message ?? '',
				/TLS certificate was not trusted \(ERR_TLS_CERT_ALTNAME_INVALID\)/,
			);
			assert.match(outcome.fix ?? '', /Check the host name/);
		}
		const sent = await probe({ trustStackCa: true, allowUnauthorizedCerts: false });
		assertBothWorked(sent);
		assert.ok(await inBobsInbox(sent.subject, 15_000), 'the message sent did not arrive');
		assert.equal(await inBobsInbox(refused.subject, 0), false, 'a refused send was delivered');
	});

	it('the credential’s other security choices, IMAP over STARTTLS (143) and SMTP with TLS from the start (465): sign in and send with the CA trusted, both refused with the fix when it is not', async () => {
		const trusted = await probe({
			trustStackCa: true,
			allowUnauthorizedCerts: false,
			security: otherSecurity(),
		});
		assertBothWorked(trusted);
		const refused = await probe({
			trustStackCa: false,
			allowUnauthorizedCerts: false,
			security: otherSecurity(),
		});
		assertUntrusted(refused);
		assert.ok(await inBobsInbox(trusted.subject, 15_000), 'the message sent did not arrive');
		assert.equal(await inBobsInbox(refused.subject, 0), false, 'a refused send was delivered');
	});

	it('a server that offers no STARTTLS (a downgrade) on the STARTTLS settings: IMAP and SMTP stop before signing in; the token never crosses in the clear', async () => {
		const heard = { imap: '', smtp: '' };
		const connections = { imap: 0, smtp: 0 };
		// Plain-text servers that offer XOAUTH2 but not STARTTLS, as a man in the middle would.
		const imap = createServer((socket) => {
			connections.imap++;
			socket.write('* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n');
			socket.on('data', (chunk: Buffer) => {
				heard.imap += chunk.toString('latin1');
				for (const line of chunk.toString('latin1').split('\r\n').filter(Boolean)) {
					const [tag, command = ''] = line.split(' ');
					if (/^CAPABILITY$/i.test(command))
						socket.write(`* CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2\r\n${tag} OK done\r\n`);
					else if (/^(LOGOUT)$/i.test(command)) socket.end(`* BYE\r\n${tag} OK bye\r\n`);
					else socket.write(`${tag} NO not here\r\n`);
				}
			});
			socket.on('error', () => undefined);
		});
		const smtp = createServer((socket) => {
			connections.smtp++;
			socket.write('220 plain ESMTP\r\n');
			socket.on('data', (chunk: Buffer) => {
				heard.smtp += chunk.toString('latin1');
				for (const line of chunk.toString('latin1').split('\r\n').filter(Boolean)) {
					if (/^EHLO/i.test(line)) socket.write('250-plain\r\n250 AUTH XOAUTH2\r\n');
					else if (/^QUIT/i.test(line)) socket.end('221 bye\r\n');
					else socket.write('502 not here\r\n');
				}
			});
			socket.on('error', () => undefined);
		});
		const listen = async (server: Server) => {
			await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
			return (server.address() as AddressInfo).port;
		};
		try {
			const result = await probe({
				trustStackCa: true,
				allowUnauthorizedCerts: false,
				security: {
					imap: ['starttls', await listen(imap)],
					smtp: ['starttls', await listen(smtp)],
				},
			});
			assert.equal(result.imap.ok, false, 'IMAP signed in without TLS');
			assert.equal(result.smtp.ok, false, 'SMTP sent without TLS');
			for (const [protocol, text] of Object.entries(heard)) {
				const reached = connections[protocol as keyof typeof connections];
				assert.ok(reached > 0, `${protocol} never connected: the test proves nothing`);
				assert.doesNotMatch(text, /AUTHENTICATE|^AUTH /im, `${protocol} tried to sign in`);
				assert.ok(!text.includes(result.token), `${protocol} sent the token in the clear`);
				const xoauth2 = Buffer.from(`auth=Bearer ${result.token}`).toString('base64').slice(0, 40);
				assert.ok(!text.includes(xoauth2.slice(8, 40)), `${protocol} sent XOAUTH2 in the clear`);
			}
			for (const [protocol, outcome] of both(result)) {
				assert.match(
					outcome.message ?? '',
					new RegExp(`^${protocol}: the server did not start TLS \\(STARTTLS\\)`),
				);
				assert.match(outcome.fix ?? '', /port and security/);
				assert.ok(!outcome.message?.includes(result.token));
			}
		} finally {
			imap.close();
			smtp.close();
		}
	});

	it('the wrong security for the port, either way (TLS on 143/587, STARTTLS on 993/465): refused with an error that names the port and security to set, within the greeting timeout', async () => {
		const tlsOnPlain = await probe({
			trustStackCa: true,
			allowUnauthorizedCerts: false,
			security: { imap: ['tls', stackInfo().imapPort], smtp: ['tls', stackInfo().smtpPort] },
		});
		const startTlsOnTls = await probe({
			trustStackCa: true,
			allowUnauthorizedCerts: false,
			security: {
				imap: ['starttls', stackInfo().imapsPort],
				smtp: ['starttls', stackInfo().smtpsPort],
			},
		});
		for (const [protocol, outcome] of both(tlsOnPlain)) {
			assert.equal(outcome.ok, false, `${protocol} signed in over the wrong security`);
			assert.equal(
				outcome.message,
				`${protocol}: the server did not answer in TLS on this port: it starts in plain text`,
			);
			assert.match(outcome.fix ?? '', /to STARTTLS for this port/);
		}
		for (const [protocol, outcome] of both(startTlsOnTls)) {
			assert.equal(outcome.ok, false, `${protocol} signed in over the wrong security`);
			assert.equal(outcome.message, `${protocol}: the server sent no greeting in time`);
			assert.match(outcome.fix ?? '', /needs the (IMAP|SMTP) security "TLS"/);
		}
	});
});

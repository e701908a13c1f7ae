/**
 * An SMTP submission server that behaves like smtp.office365.com for our purposes: STARTTLS on a
 * 587-style port, AUTH XOAUTH2 only, tokens checked (signature, issuer, audience, expiry, SMTP.Send
 * or SMTP.SendAsApp, mailbox grant), 535 5.7.3 on failure, SendAsDenied for a foreign From, and
 * delivery of accepted mail into the local Dovecot mailboxes (and a copy in the sender's Sent Items).
 */
import type { AddressInfo } from 'node:net';

import { SMTPServer, type SMTPServerAuthentication, type SMTPServerSession } from 'smtp-server';

import { MAILBOXES, SMTP_AUTH_DISABLED } from './directory';
import type { DovecotServer } from './dovecot';
import type { OAuthTestServer } from './oauth-server';

export interface ReceivedMail {
	from: string;
	to: string[];
	raw: Buffer;
	authenticatedAs: string;
}

export class SmtpTestServer {
	private servers: SMTPServer[] = [];
	/** STARTTLS (587-style), as Exchange Online. */
	port = 0;
	/** TLS from the first byte (465-style), the other choice a custom cloud's credential offers. */
	securePort = 0;
	readonly received: ReceivedMail[] = [];
	/** When true, every AUTH answers 535 as a mailbox with SMTP AUTH disabled does. */
	smtpAuthDisabled = false;

	constructor(
		private readonly options: { cert: string; key: string; port?: number },
		private readonly oauth: OAuthTestServer,
		private readonly dovecot: DovecotServer,
	) {}

	async start(): Promise<void> {
		this.port = await this.listen(false, this.options.port ?? 0);
		this.securePort = await this.listen(true, 0);
	}

	private async listen(secure: boolean, port: number): Promise<number> {
		const server = new SMTPServer({
			secure,
			key: this.options.key,
			cert: this.options.cert,
			name: 'smtp.example.test',
			authMethods: ['XOAUTH2'],
			authOptional: false,
			disabledCommands: [],
			size: 35 * 1024 * 1024,
			logger: false,
			onAuth: (auth: SMTPServerAuthentication, _session, callback) => {
				const refuse = () => {
					const error = new Error('5.7.3 Authentication unsuccessful') as Error & {
						responseCode: number;
					};
					error.responseCode = 535;
					callback(error);
				};
				if (
					auth.method !== 'XOAUTH2' ||
					this.smtpAuthDisabled ||
					SMTP_AUTH_DISABLED.includes((auth.username ?? '').toLowerCase())
				)
					return refuse();
				this.oauth
					.mayOpenMailbox(auth.accessToken ?? '', auth.username ?? '', 'smtp')
					.then((ok) => (ok ? callback(null, { user: auth.username!.toLowerCase() }) : refuse()))
					.catch(refuse);
			},
			onMailFrom: (address, session: SMTPServerSession, callback) => {
				if (address.address.toLowerCase() !== String(session.user)) {
					const error = new Error(
						`5.2.252 SendAsDenied; ${String(session.user)} not allowed to send as ${address.address}`,
					) as Error & { responseCode: number };
					error.responseCode = 554;
					return callback(error);
				}
				callback();
			},
			onData: (stream, session, callback) => {
				const chunks: Buffer[] = [];
				stream.on('data', (c: Buffer) => chunks.push(c));
				stream.on('end', () => {
					const raw = Buffer.concat(chunks);
					const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
					const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
					try {
						for (const rcpt of to) {
							if ((MAILBOXES as readonly string[]).includes(rcpt))
								this.dovecot.deliver(rcpt, raw, undefined, from);
						}
						// Exchange keeps a copy of mail submitted over SMTP AUTH in Sent Items.
						this.dovecot.deliver(String(session.user), raw, 'Sent Items', from);
						this.received.push({ from, to, raw, authenticatedAs: String(session.user) });
						callback();
					} catch (error) {
						callback(error as Error);
					}
				});
			},
		});
		// A client that refuses the certificate closes the socket mid-handshake; the server reports it
		// as an 'error' event, which without a listener would end the stack.
		server.on('error', () => undefined);
		this.servers.push(server);
		await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
		return (server.server.address() as AddressInfo).port;
	}

	async stop(): Promise<void> {
		await Promise.all(
			this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
		);
	}
}

/**
 * Run as its own process by test/integration/tls.test.ts: signs in over IMAP and sends one message over
 * SMTP through the package's own transport, with the token and endpoints it is given, and prints what
 * each did as one line of JSON. Its own process, so that the trust store (NODE_EXTRA_CA_CERTS) is the
 * one its parent chose and Node's once-a-process warnings are its own.
 */
import { resolveCloud } from '../../nodes/M365Mail/transport/auth/clouds';
import { MailServiceError } from '../../nodes/M365Mail/transport/auth/errors';
import type { AccessTokenProvider } from '../../nodes/M365Mail/transport/auth/tokens';
import { openImapSession } from '../../nodes/M365Mail/transport/imap/session';
import { composeMessage } from '../../nodes/M365Mail/transport/mime/compose';
import { sendComposedMessage } from '../../nodes/M365Mail/transport/smtp/send';

interface Probe {
	cloud: Record<string, string | number>;
	mailbox: string;
	token: string;
	allowUnauthorizedCerts: boolean;
	to: string;
	subject: string;
}

type Outcome = { ok: true } | { ok: false; message: string; fix?: string; kind?: string };

async function outcome(run: () => Promise<unknown>): Promise<Outcome> {
	try {
		await run();
		return { ok: true };
	} catch (error) {
		if (error instanceof MailServiceError)
			return { ok: false, message: error.message, fix: error.fix, kind: error.kind };
		return { ok: false, message: String(error) };
	}
}

async function main(): Promise<void> {
	const probe = JSON.parse(process.env.TLS_PROBE ?? '{}') as Probe;
	const warnings: string[] = [];
	process.on('warning', (w: Error & { code?: string }) => warnings.push(`${w.code ?? w.name}`));
	const cloud = resolveCloud(probe.cloud);
	const tokens = {
		kind: 'delegated',
		getAccessToken: async () => probe.token,
		signedInMailbox: async () => undefined,
	} as unknown as AccessTokenProvider;
	// Side by side: a wrong port waits for a greeting timeout, and the two are independent.
	const imapDone = outcome(async () => {
		const client = await openImapSession({
			cloud,
			tokens,
			mailbox: probe.mailbox,
			allowUnauthorizedCerts: probe.allowUnauthorizedCerts,
		});
		try {
			await client.list();
		} finally {
			await client.logout();
		}
	});
	const smtpDone = outcome(async () => {
		const message = await composeMessage({
			from: probe.mailbox,
			to: [probe.to],
			subject: probe.subject,
			text: 'TLS probe',
		});
		await sendComposedMessage(
			{ cloud, tokens, user: probe.mailbox, allowUnauthorizedCerts: probe.allowUnauthorizedCerts },
			message,
		);
	});
	const [imap, smtp] = await Promise.all([imapDone, smtpDone]);
	// Warnings are emitted on the next tick.
	await new Promise((resolve) => setImmediate(resolve));
	process.stdout.write(`${JSON.stringify({ imap, smtp, warnings })}\n`);
}

main().catch((error: unknown) => {
	process.stderr.write(`${String(error)}\n`);
	process.exit(1);
});

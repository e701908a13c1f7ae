import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';

import { mintToken, stackInfo } from '../harness/stack';

async function send(user: string, token: string, from = user) {
	const transport = createTransport({
		host: '127.0.0.1',
		port: stackInfo().smtpPort,
		secure: false,
		requireTLS: true,
		auth: { type: 'OAuth2', user, accessToken: token },
	});
	try {
		return await transport.sendMail({
			from,
			to: 'bob@example.test',
			subject: `stack check ${Date.now()}`,
			text: 'hello',
		});
	} finally {
		transport.close();
	}
}

async function subjectsIn(mailbox: string, folder: string): Promise<string[]> {
	const client = new ImapFlow({
		host: '127.0.0.1',
		port: stackInfo().imapsPort,
		secure: true,
		auth: { user: mailbox, accessToken: await mintToken({ upn: mailbox }) },
		logger: false,
	});
	client.on('error', () => undefined);
	await client.connect();
	const lock = await client.getMailboxLock(folder);
	try {
		const subjects: string[] = [];
		for await (const message of client.fetch('1:*', { envelope: true }))
			subjects.push(message.envelope?.subject ?? '');
		return subjects;
	} finally {
		lock.release();
		await client.logout();
	}
}

describe('the stack’s SMTP server behaves like Exchange’s SMTP AUTH', () => {
	it('accepts a valid XOAUTH2 token, delivers to the recipient and keeps a copy in Sent Items', async () => {
		const info = await send('alice@example.test', await mintToken({ upn: 'alice@example.test' }));
		const subject = (info.envelope as unknown as { subject?: string })?.subject;
		assert.equal(info.accepted.length, 1, String(subject));
		const inbox = await subjectsIn('bob@example.test', 'INBOX');
		const sent = await subjectsIn('alice@example.test', 'Sent Items');
		const last = inbox[inbox.length - 1];
		assert.match(last, /^stack check/);
		assert.ok(sent.includes(last));
	});

	it('answers 535 to an expired token', async () => {
		await assert.rejects(
			send('alice@example.test', await mintToken({ upn: 'alice@example.test', expiresIn: -60 })),
			(e: { responseCode?: number }) => e.responseCode === 535,
		);
	});

	it('answers 535 to a token without SMTP.Send', async () => {
		await assert.rejects(
			send(
				'alice@example.test',
				await mintToken({ upn: 'alice@example.test', scp: 'IMAP.AccessAsUser.All' }),
			),
			(e: { responseCode?: number }) => e.responseCode === 535,
		);
	});

	it('answers SendAsDenied for a From address the user may not send as', async () => {
		await assert.rejects(
			send(
				'alice@example.test',
				await mintToken({ upn: 'alice@example.test' }),
				'bob@example.test',
			),
			/SendAsDenied/,
		);
	});
});

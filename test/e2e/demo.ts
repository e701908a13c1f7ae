/**
 * `npm run demo`: the local Microsoft-like mail stack and real n8n with this package installed as a
 * community package, ready credentials, a sample workflow (new mail -> mark as read) activated, and a
 * few messages that arrive as executions; one more message every minute. Ctrl-C stops everything.
 * Needs `bash scripts/setup.sh` first (Dovecot, Node 24, n8n).
 */
/* eslint-disable no-console */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

import { appendMails, buildMail, deliverMail, testImap } from '../harness/mail';
import { appOnlyCredential, delegatedCredential, IMAP_SCOPES, signIn } from '../harness/stack';
import { ensureCertificates } from '../stack/certs';
import { DEFAULT_STACK_DIR, startStack } from '../stack/index';
import {
	actionWorkflowNode,
	e2eInstalled,
	installPackage,
	N8nInstance,
	OWNER,
	ROOT,
	triggerWorkflowNode,
} from './n8n';

const FOLDER = 'Inbox/Demo';

async function portFree(port: number): Promise<boolean> {
	return await new Promise((done) => {
		const server = createServer();
		server.once('error', () => done(false));
		server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
	});
}

/** Node reads NODE_EXTRA_CA_CERTS only at start: run again with the stack's test CA trusted. */
function reexecWithTestCa(): void {
	const certs = ensureCertificates(join(DEFAULT_STACK_DIR, 'certs'));
	const child = spawn(process.execPath, process.execArgv.concat(process.argv.slice(1)), {
		stdio: 'inherit',
		env: { ...process.env, NODE_EXTRA_CA_CERTS: certs.caCertPath },
	});
	process.on('SIGINT', () => undefined); // the child handles Ctrl-C and exits
	child.on('exit', (code) => process.exit(code ?? 0));
}

async function ensureFolder(): Promise<void> {
	const client = await testImap();
	try {
		const folders = await client.list();
		if (!folders.some((f) => f.path === 'INBOX/Demo'))
			await client.mailboxCreate(['INBOX', 'Demo']);
	} finally {
		await client.logout();
	}
}

async function main(): Promise<void> {
	if (!e2eInstalled()) {
		console.error('n8n is not installed yet: run `bash scripts/setup.sh` first.');
		process.exit(1);
	}
	console.log('Starting the local mail stack (Entra stand-in, Dovecot IMAP, SMTP)...');
	const stack = await startStack();
	process.env.M365_STACK = JSON.stringify(stack.info);
	const userFolder = join(ROOT, '.tmp/demo-n8n');
	rmSync(userFolder, { recursive: true, force: true });
	mkdirSync(userFolder, { recursive: true });
	console.log('Packing this package and installing it into n8n as a community package...');
	installPackage(userFolder);
	const port = (await portFree(5678)) ? 5678 : undefined;
	const n8n = new N8nInstance({
		userFolder,
		caCertPath: stack.info.caCertPath,
		port,
		logFile: join(userFolder, 'n8n.log'),
	});
	let stopping = false;
	const shutdown = async () => {
		if (stopping) return;
		stopping = true;
		console.log('\nStopping n8n and the mail stack...');
		await n8n.stop();
		await stack.stop();
		process.exit(0);
	};
	process.on('SIGINT', () => void shutdown());
	process.on('SIGTERM', () => void shutdown());

	console.log('Starting n8n (the first start takes a minute or two)...');
	await n8n.start();
	await n8n.login();

	const delegated = { id: 'M365DemoDelegate', name: 'Alice (IMAP + SMTP, local stack)' };
	await n8n.importCredentials([
		{
			...delegated,
			type: 'm365MailOAuth2Api',
			data: delegatedCredential(await signIn('alice@example.test', IMAP_SCOPES)),
		},
	]);
	await n8n.api('POST', '/credentials', {
		name: 'Service app (app-only, local stack)',
		type: 'm365MailAppOnlyApi',
		data: appOnlyCredential(),
	});

	await ensureFolder();
	await appendMails(FOLDER, [
		{
			subject: 'Welcome to the demo',
			from: 'Bob <bob@example.test>',
			text: 'This message started a workflow.',
		},
		{
			subject: 'Invoice 1001',
			from: 'Billing <billing@vendor.test>',
			text: 'Your invoice is attached.',
			attachments: [{ filename: 'invoice-1001.csv', content: 'item,amount\nwidgets,42\n' }],
		},
		{ subject: 'Meeting tomorrow', from: 'Carol <carol@example.test>', text: 'At 10, room 4.' },
	]);

	const credentials = { m365MailOAuth2Api: delegated };
	const workflow = await n8n.api('POST', '/workflows', {
		name: 'Demo: new mail in Inbox/Demo -> flag it',
		settings: { executionOrder: 'v1' },
		nodes: [
			triggerWorkflowNode('New Mail', FOLDER, credentials, {
				downloadAttachments: true,
				startFrom: 'existing',
			}),
			actionWorkflowNode('Flag It', 1, credentials, {
				resource: 'message',
				operation: 'flag',
				messageId: '={{ $json.id }}',
			}),
		],
		connections: { 'New Mail': { main: [[{ node: 'Flag It', type: 'main', index: 0 }]] } },
	});
	await n8n.api('POST', `/workflows/${workflow.id as string}/activate`);

	console.log(`
n8n is running with n8n-nodes-m365-mail installed as a community package.

  Editor:   ${n8n.url}/workflow/${workflow.id as string}
  Login:    ${OWNER.email} / ${OWNER.password}

The workflow "Demo: new mail in Inbox/Demo -> flag it" is active. Its first poll already emitted the
3 unread messages in alice@example.test's Inbox/Demo (see Executions). A new message arrives every
minute; each one becomes an execution at the next poll. Both credentials are ready (Credentials tab).

n8n log: ${join(userFolder, 'n8n.log')}
Ctrl-C stops n8n and the mail stack.`);

	let n = 1;
	setInterval(() => {
		void buildMail({
			subject: `Demo message #${n++} (${new Date().toLocaleTimeString()})`,
			from: 'Bob <bob@example.test>',
			to: 'alice@example.test',
			text: 'Delivered by the demo through the MTA path (dovecot-lda).',
		}).then((raw) => deliverMail(raw, 'alice@example.test', FOLDER));
	}, 60_000);
}

const testCa = join(DEFAULT_STACK_DIR, 'certs/ca.crt');
if (process.env.NODE_EXTRA_CA_CERTS !== testCa) reexecWithTestCa();
else
	main().catch((error) => {
		console.error(error);
		process.exit(1);
	});

/** Starts and stops the whole local stack: OAuth2 server, Dovecot, SMTP server. */
import { createServer } from 'node:net';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { ensureCertificates, type TestCertificates } from './certs';
import { APPS, TENANT_ID } from './directory';
import { DovecotServer } from './dovecot';
import { GraphEmulator } from './graph-emulator';
import { OAuthTestServer } from './oauth-server';
import { SmtpTestServer } from './smtp-server';

export interface StackInfo {
	dir: string;
	caCertPath: string;
	oauthUrl: string;
	imapPort: number;
	imapsPort: number;
	smtpPort: number;
	/** SMTP with TLS from the first byte (465-style). */
	smtpsPort: number;
	graphUrl: string;
	tenantId: string;
	dovecotConfig: string;
	appCertPath: string;
	appKeyPath: string;
}

export interface Stack {
	info: StackInfo;
	certs: TestCertificates;
	oauth: OAuthTestServer;
	dovecot: DovecotServer;
	smtp: SmtpTestServer;
	graph: GraphEmulator;
	stop(): Promise<void>;
}

export const DEFAULT_STACK_DIR = resolve(__dirname, '../../.stack');

async function freePort(): Promise<number> {
	return await new Promise((resolvePort, reject) => {
		const server = createServer();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address() as { port: number };
			server.close(() => resolvePort(port));
		});
	});
}

export async function startStack(
	options: {
		dir?: string;
		ports?: Partial<Record<'oauth' | 'imap' | 'imaps' | 'smtp', number>>;
	} = {},
): Promise<Stack> {
	const dir = options.dir ?? DEFAULT_STACK_DIR;
	mkdirSync(dir, { recursive: true });
	const certs = ensureCertificates(join(dir, 'certs'));
	const oauth = new OAuthTestServer({
		cert: certs.cert,
		key: certs.key,
		port: options.ports?.oauth,
		serviceAppCertificates: [certs.appCert],
	});
	await oauth.start();
	const dovecot = new DovecotServer({
		dir: join(dir, 'dovecot'),
		imapPort: options.ports?.imap ?? (await freePort()),
		imapsPort: options.ports?.imaps ?? (await freePort()),
		certPath: certs.certPath,
		keyPath: certs.keyPath,
		caCertPath: certs.caCertPath,
		oauthUrl: oauth.url,
		signingKid: oauth.kid,
		signingKeyPem: oauth.publicKeyPem,
	});
	try {
		await dovecot.start();
	} catch (error) {
		await oauth.stop();
		throw error;
	}
	const smtp = new SmtpTestServer(
		{ cert: certs.cert, key: certs.key, port: options.ports?.smtp },
		oauth,
		dovecot,
	);
	await smtp.start();
	const graph = new GraphEmulator(
		{ cert: certs.cert, key: certs.key, ca: readFileSync(certs.caCertPath, 'utf8') },
		oauth,
	);
	await graph.start();
	const info: StackInfo = {
		dir,
		caCertPath: certs.caCertPath,
		oauthUrl: oauth.url,
		imapPort: dovecot.options.imapPort,
		imapsPort: dovecot.options.imapsPort,
		smtpPort: smtp.port,
		smtpsPort: smtp.securePort,
		graphUrl: graph.url,
		tenantId: TENANT_ID,
		dovecotConfig: dovecot.configPath,
		appCertPath: join(certs.dir, 'app.crt'),
		appKeyPath: join(certs.dir, 'app.key'),
	};
	writeFileSync(join(dir, 'stack.json'), JSON.stringify(info, null, 2));
	return {
		info,
		certs,
		oauth,
		dovecot,
		smtp,
		graph,
		async stop() {
			await graph.stop();
			await smtp.stop();
			dovecot.stop();
			await oauth.stop();
		},
	};
}

export { APPS };

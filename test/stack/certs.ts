/** A throwaway test CA and a server certificate for 127.0.0.1/localhost, made with openssl. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificates {
	dir: string;
	caCertPath: string;
	cert: string;
	key: string;
	certPath: string;
	keyPath: string;
	/** A client certificate and key for the app-only credential's certificate authentication. */
	appCert: string;
	appKey: string;
}

function openssl(args: string[], cwd: string): void {
	execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A self-signed certificate (the test CA, and the app-only credential's certificate). */
function selfSigned(keyPath: string, certPath: string, commonName: string, cwd: string): void {
	openssl(
		[
			'req',
			'-x509',
			'-newkey',
			'rsa:2048',
			'-nodes',
			'-keyout',
			keyPath,
			'-out',
			certPath,
			'-days',
			'30',
			'-subj',
			`/CN=${commonName}`,
		],
		cwd,
	);
}

export function ensureCertificates(dir: string): TestCertificates {
	mkdirSync(dir, { recursive: true });
	const paths = {
		caKey: join(dir, 'ca.key'),
		caCert: join(dir, 'ca.crt'),
		key: join(dir, 'server.key'),
		csr: join(dir, 'server.csr'),
		cert: join(dir, 'server.crt'),
		ext: join(dir, 'server.ext'),
		appKey: join(dir, 'app.key'),
		appCert: join(dir, 'app.crt'),
	};
	if (!existsSync(paths.appCert)) {
		selfSigned(paths.caKey, paths.caCert, 'm365-mail test CA', dir);
		openssl(
			[
				'req',
				'-newkey',
				'rsa:2048',
				'-nodes',
				'-keyout',
				paths.key,
				'-out',
				paths.csr,
				'-subj',
				'/CN=localhost',
			],
			dir,
		);
		writeFileSync(
			paths.ext,
			'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
		);
		openssl(
			[
				'x509',
				'-req',
				'-in',
				paths.csr,
				'-CA',
				paths.caCert,
				'-CAkey',
				paths.caKey,
				'-CAcreateserial',
				'-out',
				paths.cert,
				'-days',
				'30',
				'-extfile',
				paths.ext,
			],
			dir,
		);
		selfSigned(paths.appKey, paths.appCert, 'm365-mail test app', dir);
	}
	return {
		dir,
		caCertPath: paths.caCert,
		cert: readFileSync(paths.cert, 'utf8'),
		key: readFileSync(paths.key, 'utf8'),
		certPath: paths.cert,
		keyPath: paths.key,
		appCert: readFileSync(paths.appCert, 'utf8'),
		appKey: readFileSync(paths.appKey, 'utf8'),
	};
}

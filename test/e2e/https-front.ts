/**
 * An https front for n8n, as a reverse proxy with a certificate is in production: Microsoft Graph
 * sends change notifications only to https URLs. Used by the Graph notice test and its bench.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';

import { freePort, N8nInstance } from './n8n';

export interface HttpsFront {
	url: string;
	close(): Promise<void>;
}

/** Forwards to n8n at 127.0.0.1 on the port `target()` gives (it may change between restarts). */
export async function httpsFront(
	target: () => number,
	cert: string,
	key: string,
): Promise<HttpsFront> {
	const server: Server = createServer({ cert, key }, (req, res) => {
		const upstream = httpRequest(
			{
				host: '127.0.0.1',
				port: target(),
				method: req.method,
				path: req.url,
				headers: req.headers,
			},
			(answer) => {
				res.writeHead(answer.statusCode ?? 502, answer.headers);
				answer.pipe(res);
			},
		);
		upstream.on('error', () => {
			res.writeHead(502);
			res.end();
		});
		req.pipe(upstream);
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	return {
		url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
		close: async () => {
			server.closeAllConnections();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}

/**
 * n8n (not started) behind an https front with the local stack's server certificate; its webhook
 * URLs, production and test, are the front's (in n8n 2.41 N8N_WEBHOOK_URL sets both, WEBHOOK_URL
 * only the production one).
 */
export async function n8nBehindHttpsFront(
	userFolder: string,
	caCertPath: string,
	logLevel?: string,
): Promise<{ n8n: N8nInstance; front: HttpsFront }> {
	const certs = dirname(caCertPath);
	const port = await freePort();
	const front = await httpsFront(
		() => port,
		readFileSync(join(certs, 'server.crt'), 'utf8'),
		readFileSync(join(certs, 'server.key'), 'utf8'),
	);
	const n8n = new N8nInstance({
		userFolder,
		port,
		caCertPath,
		logFile: join(userFolder, 'n8n.log'),
		logLevel,
		env: { N8N_WEBHOOK_URL: `${front.url}/`, WEBHOOK_URL: `${front.url}/` },
	});
	return { n8n, front };
}

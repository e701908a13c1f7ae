/**
 * An https front for n8n, as a reverse proxy with a certificate is in production: Microsoft Graph
 * sends change notifications only to https URLs. Used by the Graph notice test and its bench.
 */
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

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

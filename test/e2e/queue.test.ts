/**
 * n8n's queue mode, as self-hosters run it: n8n 2.41.1 main (`EXECUTIONS_MODE=queue`) runs the triggers,
 * two `n8n worker` processes run the executions, Redis is the queue, PostgreSQL the database, and binary
 * data is in n8n's `database` mode (the one mode that every process can read without a shared disk or a
 * cloud bucket). Each process has its own user folder with the package installed, as on separate hosts.
 * Every test counts lost and duplicated messages (0 and 0) and checks which process ran the executions.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
	closeSync,
	cpSync,
	mkdirSync,
	mkdtempSync,
	openSync,
	readSync,
	statSync,
	writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { simpleParser } from 'mailparser';

import { GRAPH_SCOPES, graphDeliver, graphFolder } from '../harness/graph';
import { appendMails, freshFolder, listFolder, testImap } from '../harness/mail';
import {
	delegatedCredential,
	IMAP_SCOPES,
	oauthSettings,
	signIn,
	stackInfo,
	tokenRequestCounts,
} from '../harness/stack';
import { codeNode, countingFor, names, staggeredCodeNode, tally } from './counting';
import {
	actionWorkflowNode,
	e2eInstalled,
	everyMinuteFromNow,
	installPackage,
	N8nInstance,
	ROOT,
	runData,
	triggerWorkflowNode,
} from './n8n';
import { mailTo, post } from './responses';
import { RedisDelay } from './redis-delay';
import { Postgres, Redis } from './services';

const IMAP_CREDENTIAL = { id: 'M365QueueImap0001', name: 'Alice (IMAP, queue)' };
const GRAPH_CREDENTIAL = { id: 'M365QueueGraph001', name: 'Alice (Graph, queue)' };
const imapRef = { m365MailOAuth2Api: IMAP_CREDENTIAL };
const graphRef = { m365MailOAuth2Api: GRAPH_CREDENTIAL };

let main: N8nInstance;
const workers: N8nInstance[] = [];
const postgres = new Postgres();
const redis = new Redis();
/** main reaches Redis through this proxy (the workers go straight): see RedisDelay. */
let mainRedis: RedisDelay;
/** Executions read once they had finished (they do not change after). */
const finished = new Map<string, Record<string, unknown>>();

/**
 * A workflow's executions as n8n stored them, newest first: the ids from PostgreSQL, each read
 * through the API. n8n's list leaves out every execution that main still counts as running: after
 * main was killed and started again, an execution it enqueued at startup ran and was stored as a
 * success on a worker, yet stayed out of that list for minutes (seen in a CI run).
 */
async function storedExecutions(workflowId: string): Promise<Array<Record<string, unknown>>> {
	const ids = postgres
		.query(`SELECT id FROM execution_entity WHERE "workflowId" = '${workflowId}' ORDER BY id DESC`)
		.map((row) => row[0]);
	const result = [];
	for (const id of ids) {
		// A finished execution does not change: read once (a probe every 500 ms reads only new ones).
		let execution = finished.get(String(id));
		if (!execution) {
			execution = await main.api('GET', `/executions/${id}?includeData=true`);
			if (execution.stoppedAt && !['new', 'running', 'waiting'].includes(String(execution.status)))
				finished.set(String(id), execution);
		}
		result.push(execution);
	}
	return result;
}

const {
	processed,
	waitForAll,
	assertNoneLostOrDuplicated,
	instantRuns,
	succeededRuns,
	killMidBurstAndCount,
} = countingFor(() => main, storedExecutions);

/** Which process ran each execution, from the workers' own log lines ("Worker started execution N"). */
function ranOn(): Map<string, string> {
	const result = new Map<string, string>();
	workers.forEach((worker, i) => {
		for (const match of worker.output().matchAll(/Worker started execution (\d+)/g))
			result.set(match[1], `worker ${i + 1}`);
	});
	return result;
}

/** main's log lines on starting, activating and handing executions over (the last 40). */
function startupLines(log: string): string {
	return log
		.split('\n')
		.filter((line) =>
			/n8n ready|Start Active Workflows|ctivat|Issue on initial|Enqueued execution|Execution \d+ .*finished|leader/i.test(
				line,
			),
		)
		.slice(-40)
		.join(' | ');
}

/** The trigger executions of a workflow, each with the process that ran it. */
async function executionsByProcess(workflowId: string): Promise<Record<string, number>> {
	const where = ranOn();
	const tallyBy: Record<string, number> = {};
	for (const e of await storedExecutions(workflowId)) {
		if (e.mode !== 'trigger') continue;
		const process = where.get(String(e.id)) ?? 'main';
		tallyBy[process] = (tallyBy[process] ?? 0) + 1;
	}
	return tallyBy;
}

/** Delegated credentials for alice, signed in at the local OAuth2 server, imported into n8n. */
async function importCredentials(
	list: Array<{ id: string; name: string; scopes: string; access?: 'graph' }>,
): Promise<Array<{ id: string; name: string }>> {
	const file = join(main.options.userFolder, `credentials-${randomUUID().slice(0, 8)}.json`);
	const data = [];
	for (const { id, name, scopes, access } of list)
		data.push({
			id,
			name,
			type: 'm365MailOAuth2Api',
			data: delegatedCredential(
				await signIn('alice@example.test', scopes),
				access ? { access } : {},
			),
		});
	writeFileSync(file, JSON.stringify(data));
	await main.cli(['import:credentials', `--input=${file}`]);
	return list.map(({ id, name }) => ({ id, name }));
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** An active workflow: the instant trigger on `folder` (IMAP), then `process` (a "Process" node). */
async function activeInstantWorkflow(
	name: string,
	folder: string,
	parameters: Record<string, unknown>,
	process: ReturnType<typeof codeNode>,
): Promise<string> {
	const id = await main.createWorkflow(
		name,
		[
			triggerWorkflowNode('New Mail', folder, imapRef, parameters, 'm365MailInstantTrigger'),
			process,
		],
		{ 'New Mail': { main: [[{ node: 'Process', type: 'main', index: 0 }]] } },
	);
	await main.api('POST', `/workflows/${id}/activate`);
	await new Promise((r) => setTimeout(r, 1500));
	return id;
}

/** Waits until every message in the folder is read. */
async function allRead(folder: string, timeoutMs?: number): Promise<true> {
	return await main.waitFor(
		'every message marked read',
		async () =>
			(await listFolder(folder)).every((m) => m.flags.includes('\\Seen')) ? true : undefined,
		timeoutMs,
	);
}

describe('queue mode: n8n main + 2 workers, PostgreSQL and Redis, counted', () => {
	const stack = stackInfo();
	const queueEnv = (): NodeJS.ProcessEnv => ({
		...postgres.env(),
		...redis.env(),
		EXECUTIONS_MODE: 'queue',
		N8N_DEFAULT_BINARY_DATA_MODE: 'database',
		QUEUE_BULL_PREFIX: `m365-${randomUUID().slice(0, 8)}`,
		// A dead worker's job is found stalled after its lock lapses (60 s and a 30 s check by
		// default): shortened so the worker-kill test is quick.
		QUEUE_WORKER_LOCK_DURATION: '10000',
		QUEUE_WORKER_LOCK_RENEW_TIME: '2500',
		QUEUE_WORKER_STALLED_INTERVAL: '5000',
	});

	before(async () => {
		if (!e2eInstalled()) throw new Error('n8n is not installed: run scripts/e2e-setup.sh');
		await postgres.start();
		await redis.start();
		mainRedis = new RedisDelay(redis.port);
		await mainRedis.start();
		const env = queueEnv();
		mkdirSync(join(ROOT, '.tmp'), { recursive: true });
		const mainFolder = mkdtempSync(join(ROOT, '.tmp/e2e-queue-main-'));
		installPackage(mainFolder);
		// Each worker has a user folder of its own with the same install, as on a host of its own.
		const folderFor = (role: string) => {
			const folder = mkdtempSync(join(ROOT, `.tmp/e2e-queue-${role}-`));
			cpSync(join(mainFolder, '.n8n/nodes'), join(folder, '.n8n/nodes'), { recursive: true });
			return folder;
		};
		main = new N8nInstance({
			userFolder: mainFolder,
			caCertPath: stack.caCertPath,
			logFile: join(mainFolder, 'n8n.log'),
			// Debug: the instant trigger's lines on each run's success (read by checkRanTwice).
			logLevel: process.env.M365_E2E_LOG_LEVEL ?? 'debug',
			env: { ...env, ...mainRedis.env() },
		});
		await main.start(); // runs the database migrations before any worker starts
		for (const role of ['worker1', 'worker2']) {
			const folder = folderFor(role);
			workers.push(
				new N8nInstance({
					userFolder: folder,
					caCertPath: stack.caCertPath,
					logFile: join(folder, 'n8n.log'),
					command: 'worker',
					// As a deployment sets it for every process: the public address, which a worker writes
					// into the links of the mail Send and Wait for Response sends.
					env: { ...env, WEBHOOK_URL: `${main.url}/` },
				}),
			);
		}
		await Promise.all(workers.map((w) => w.start()));
		await main.login();
		await importCredentials([
			{ ...IMAP_CREDENTIAL, scopes: IMAP_SCOPES },
			{ ...GRAPH_CREDENTIAL, scopes: GRAPH_SCOPES, access: 'graph' },
		]);
	});

	after(async () => {
		await Promise.all(workers.map((w) => w.stop()));
		await main?.stop();
		await mainRedis?.stop();
		await redis.stop();
		postgres.stop();
	});

	it('polling trigger on main, executions on the workers: every attachment reaches the worker’s Send node intact (hash), 0 lost, 0 duplicated', async () => {
		const folder = await freshFolder('queue-binary');
		const tag = randomUUID().slice(0, 8);
		const id = await main.createWorkflow(
			'Queue: binary across processes',
			[
				triggerWorkflowNode('New Mail', folder, imapRef, {
					afterEmit: 'markRead',
					downloadAttachments: true,
					maxMessages: 200,
				}),
				actionWorkflowNode('Send', 1, imapRef, {
					resource: 'message',
					operation: 'send',
					to: 'bob@example.test',
					subject: `={{ 'queue ${tag} ' + $json.subject }}`,
					text: 'forwarded by a worker',
					options: { attachments: 'attachment_0' },
				}),
			],
			{ 'New Mail': { main: [[{ node: 'Send', type: 'main', index: 0 }]] } },
		);
		await main.api('POST', `/workflows/${id}/activate`);
		const hashes = new Map<string, string>();
		const expected: string[] = [];
		for (let burst = 0; burst < 4; burst++) {
			const batch = names(`binary ${burst}`, 10).map((subject) => {
				const content = randomBytes(4096 + Math.floor(Math.random() * 60_000));
				hashes.set(subject, sha256(content));
				return {
					subject,
					attachments: [
						{ filename: `${subject}.bin`, content, contentType: 'application/octet-stream' },
					],
				};
			});
			expected.push(...batch.map((m) => m.subject));
			await appendMails(folder, batch);
			await main.pollNow(id);
		}
		await waitForAll(id, 'New Mail', expected, 120_000);
		await waitForAll(
			id,
			'Send',
			expected.map((s) => `queue ${tag} ${s}`),
			60_000,
		);
		await assertNoneLostOrDuplicated(id, expected);
		const byProcess = await executionsByProcess(id);
		console.log(`queue mode, polling trigger: executions by process ${JSON.stringify(byProcess)}`);
		assert.equal(byProcess.main, undefined, 'no trigger execution ran on main');

		// What the workers sent, as bob's mailbox has it: one message per mail, the same bytes attached.
		const client = await testImap('bob@example.test');
		const received = new Map<string, string[]>();
		try {
			const lock = await client.getMailboxLock('INBOX');
			try {
				const uids = (await client.search({ subject: `queue ${tag} ` }, { uid: true })) || [];
				for (const message of await client.fetchAll(uids, { source: true }, { uid: true })) {
					const parsed = await simpleParser(message.source!);
					const subject = String(parsed.subject).replace(`queue ${tag} `, '');
					received.set(subject, [
						...(received.get(subject) ?? []),
						...parsed.attachments.map((a) => sha256(a.content)),
					]);
				}
			} finally {
				lock.release();
			}
		} finally {
			await client.logout();
		}
		const wrong = expected.filter((s) => received.get(s)?.join() !== hashes.get(s));
		assert.deepEqual(wrong, [], 'every attachment arrived once, byte for byte');
		const left = await listFolder(folder);
		assert.equal(left.filter((m) => !m.flags.includes('\\Seen')).length, 0);
		await main.api('POST', `/workflows/${id}/deactivate`);
	});

	it('send and wait for response: a worker sends the mail and the execution waits; the answer reaches main through the link, and a worker finishes the execution with it', async () => {
		const folder = await freshFolder('queue-ask');
		const subject = `queue ask ${randomUUID().slice(0, 8)}`;
		const id = await main.createWorkflow(
			'Queue: send and wait',
			[
				triggerWorkflowNode('New Mail', folder, imapRef, { afterEmit: 'markRead' }),
				actionWorkflowNode('Ask', 1, imapRef, {
					resource: 'message',
					operation: 'sendAndWait',
					to: 'carol@example.test',
					subject: "={{ 'Approve ' + $json.subject }}",
					message: 'Ship it?',
				}),
			],
			{ 'New Mail': { main: [[{ node: 'Ask', type: 'main', index: 0 }]] } },
		);
		await main.api('POST', `/workflows/${id}/activate`);
		await appendMails(folder, [{ subject }]);
		await main.pollNow(id);
		const mail = await mailTo(main, 'carol@example.test', `Approve ${subject}`);
		const waiting = await main.waitFor('the waiting execution', async () =>
			(await storedExecutions(id)).find((e) => e.status === 'waiting'),
		);
		const executionId = String(waiting.id);
		assert.ok(ranOn().has(executionId), 'a worker ran the execution up to the mail');
		const [approve] = mail.links;
		assert.equal((await fetch(approve)).status, 200);
		const opened = await main.api('GET', `/executions/${executionId}`);
		assert.equal(opened.status, 'waiting', 'opening the link answers nothing');
		assert.equal((await post(approve)).status, 200);
		const done = await main.executionIn(executionId, 'success');
		assert.equal((runData(done, 'Ask')[0].json.data as { approved: boolean }).approved, true);
		const runs = workers.flatMap((w) =>
			[...w.output().matchAll(/Worker started execution (\d+)/g)].filter(
				(m) => m[1] === executionId,
			),
		);
		assert.equal(runs.length, 2, 'a worker ran it up to the wait, and a worker finished it');
		await main.api('POST', `/workflows/${id}/deactivate`);
	});

	it('instant trigger on main, 200 messages in bursts while both workers run them: each processed once, marked read only after its run', async () => {
		const folder = await freshFolder('queue-instant');
		const id = await activeInstantWorkflow(
			'Queue: instant bursts',
			folder,
			{ afterEmit: 'markRead', maxMessages: 50 },
			codeNode('return { json: { subject: $json.subject, done: true } };'),
		);
		const expected: string[] = [];
		for (let burst = 0; burst < 4; burst++) {
			const batch = names(`instant ${burst}`, 50);
			expected.push(...batch);
			await appendMails(
				folder,
				batch.map((subject) => ({ subject })),
			);
			await new Promise((r) => setTimeout(r, 2000));
		}
		await succeededRuns(id, expected, 240_000);
		// Once every run succeeded, the trigger marks each read; nothing stays unread.
		await allRead(folder);
		await new Promise((r) => setTimeout(r, 3000));
		const runs = await instantRuns(id);
		assert.deepEqual(
			tally(
				expected,
				runs.map((r) => r.subject),
			),
			{ lost: 0, duplicated: 0 },
		);
		assert.ok(runs.every((r) => r.status === 'success'));
		assert.deepEqual(await processed(id, 'Process', 'success').then((s) => s.length), 200);
		const byProcess = await executionsByProcess(id);
		console.log(`queue mode, instant trigger: executions by process ${JSON.stringify(byProcess)}`);
		assert.equal(byProcess.main, undefined, 'no trigger execution ran on main');
		assert.ok(byProcess['worker 1'] > 0 && byProcess['worker 2'] > 0, 'both workers ran some');
		await main.api('POST', `/workflows/${id}/deactivate`);
	});

	it('main killed mid-burst and started again: the cursor is in PostgreSQL, nothing lost, nothing repeated (IMAP and Graph)', async () => {
		const folder = await freshFolder('queue-kill');
		const graphPath = `Inbox/queue-kill-${Date.now()}`;
		await graphFolder('alice@example.test', graphPath);
		const imapId = await main.createWorkflow(
			'Queue: kill main (IMAP)',
			[
				triggerWorkflowNode('New Mail', folder, imapRef, {
					afterEmit: 'markRead',
					maxMessages: 200,
				}),
			],
			{},
		);
		const graphId = await main.createWorkflow(
			'Queue: kill main (Graph)',
			[
				triggerWorkflowNode('New Mail', graphPath, graphRef, {
					authentication: 'delegated',
					maxMessages: 200,
				}),
			],
			{},
		);
		await main.api('POST', `/workflows/${imapId}/activate`);
		await main.api('POST', `/workflows/${graphId}/activate`);
		const imapExpected: string[] = [];
		const graphExpected: string[] = [];
		const arrive = async (prefix: string, n: number, from: number) => {
			const batch = names(prefix, n, from);
			imapExpected.push(...batch);
			graphExpected.push(...batch);
			await appendMails(
				folder,
				batch.map((subject) => ({ subject })),
			);
			for (const subject of batch) await graphDeliver('alice@example.test', { subject }, graphPath);
		};
		await arrive('kill', 30, 0);
		await main.pollNow(imapId);
		await main.pollNow(graphId);
		await waitForAll(imapId, 'New Mail', imapExpected, 60_000);
		await waitForAll(graphId, 'New Mail', graphExpected, 60_000);
		// The cursors n8n saved are in PostgreSQL.
		const stored = postgres.query(
			`SELECT id, "staticData" IS NOT NULL FROM workflow_entity WHERE id IN ('${imapId}', '${graphId}')`,
		);
		assert.deepEqual(stored.map((row) => row[1]).sort(), ['t', 't']);
		// More mail; main polls and hands it to n8n, and is killed while a worker runs that execution.
		// (Killed inside n8n's own emit instead, before n8n has written the execution, that batch is
		// lost in n8n's default scheduling: see the README and the durable-cursor test below.)
		await arrive('kill', 30, 30);
		await main.pollNow(imapId);
		await main.pollNow(graphId);
		// Through storedExecutions (ids from PostgreSQL): in one CI run main never finalized a run
		// that a worker finished 2 ms after it was enqueued, and n8n's list, which leaves out what
		// main still counts as running, did not show it until main restarted (the symptom
		// n8n-io/n8n#38220 describes for stalled jobs).
		await main.waitFor('the second executions to exist', async () => {
			const [a, b] = await Promise.all([storedExecutions(imapId), storedExecutions(graphId)]);
			return a.length >= 2 && b.length >= 2 ? true : undefined;
		});
		// n8n writes the static data of an emit without waiting for it: give that write a moment, so
		// the kill lands after n8n's emit and not inside it (the README's known window).
		await new Promise((r) => setTimeout(r, 2000));
		const killedAt = new Date().toISOString();
		await main.kill();
		await arrive('kill', 30, 60);
		await main.start();
		await main.login();
		const restartedAt = new Date().toISOString();
		try {
			// The restarted main polls on n8n's own minute schedule, then a worker runs the execution:
			// in one CI run the last execution existed just after a 90 s wait (all 90 were there).
			await waitForAll(imapId, 'New Mail', imapExpected, 150_000);
			await waitForAll(graphId, 'New Mail', graphExpected, 150_000);
		} catch (error) {
			// What n8n stored, to tell a lost emit from a cursor that did not move.
			const rows = postgres.query(
				`SELECT id, "workflowId", status, mode FROM execution_entity WHERE "workflowId" IN ('${imapId}', '${graphId}') ORDER BY id`,
			);
			const data = postgres.query(
				`SELECT id, left("staticData"::text, 1500) FROM workflow_entity WHERE id IN ('${imapId}', '${graphId}')`,
			);
			throw new Error(
				`${(error as Error).message.slice(0, 3000)}\nkilled at ${killedAt}, started again at ${restartedAt}, now ${new Date().toISOString()}\nmain's log: ${startupLines(main.output())}\nexecutions ${JSON.stringify(rows)}\nstatic data ${JSON.stringify(data)}`,
			);
		}
		console.log(
			`main killed at ${killedAt}, started again at ${restartedAt}, all 90 seen by ${new Date().toISOString()}`,
		);
		await assertNoneLostOrDuplicated(imapId, imapExpected);
		await assertNoneLostOrDuplicated(graphId, graphExpected);
		const left = await listFolder(folder);
		assert.equal(left.filter((m) => !m.flags.includes('\\Seen')).length, 0);
		for (const wf of [imapId, graphId]) {
			const byProcess = await executionsByProcess(wf);
			assert.equal(byProcess.main, undefined, `${JSON.stringify(byProcess)}: no execution on main`);
			await main.api('POST', `/workflows/${wf}/deactivate`);
		}
	});
	it('instant trigger: main killed mid-burst while the workers run, mail arriving while it is down, main started again: none lost, all read; a message runs twice only if its first run ended while main was down or just before the kill (at least once)', async () => {
		const folder = await freshFolder('queue-instant-kill');
		const id = await activeInstantWorkflow(
			'Queue: instant, main killed',
			folder,
			{
				afterEmit: 'markRead',
				maxMessages: 50,
				options: { redeliverAfterMinutes: 0.1, maxAttempts: 5 },
			},
			staggeredCodeNode(),
		);
		// Killed once some runs succeeded; the workers go on with the rest of the queue meanwhile.
		await killMidBurstAndCount(id, {
			label: 'queue mode, instant trigger, main killed mid-burst',
			prefixes: ['main killed', 'while main is down'],
			deliver: (subjects) =>
				appendMails(
					folder,
					subjects.map((subject) => ({ subject })),
				),
			allRead: () => allRead(folder, 120_000),
			runsTimeoutMs: 180_000,
			workers: true,
		});
		const byProcess = await executionsByProcess(id);
		assert.equal(byProcess.main, undefined, `${JSON.stringify(byProcess)}: no execution on main`);
		await main.api('POST', `/workflows/${id}/deactivate`);
	});
	it('a worker killed in the middle of a run: n8n fails the run, the instant trigger emits the message again, the other worker processes it once', async () => {
		const folder = await freshFolder('queue-worker-kill');
		const id = await activeInstantWorkflow(
			'Queue: worker killed',
			folder,
			{
				afterEmit: 'markRead',
				options: { redeliverAfterMinutes: 0.05, maxAttempts: 3, maxWaitMinutes: 2 },
			},
			codeNode(
				"if ($json.subject.startsWith('slow') && $json.delivery.attempt === 1) {\n  await new Promise((r) => setTimeout(r, 60000));\n}\nreturn { json: { subject: $json.subject, attempt: $json.delivery.attempt } };",
			),
		);
		const expected = ['slow 000', ...names('quick', 4)];
		await appendMails(
			folder,
			expected.map((subject) => ({ subject })),
		);
		// The worker running the slow message's execution is killed while the Code node waits.
		const victim = await main.waitFor('the slow run to be the only one still running', async () => {
			const unfinished = workers.flatMap((worker, i) => {
				const log = worker.output();
				const finished = new Set(
					[...log.matchAll(/Worker finished execution (\d+)/g)].map((m) => m[1]),
				);
				return [...log.matchAll(/Worker started execution (\d+)/g)]
					.map((m) => m[1])
					.filter((e) => !finished.has(e))
					.map((execution) => ({ process: `worker ${i + 1}`, execution }));
			});
			// The four quick runs are done (their executions are saved): the one left is the slow one.
			const quick = (await storedExecutions(id)).filter((e) => e.status === 'success').length;
			return quick >= expected.length - 1 && unfinished.length === 1 ? unfinished[0] : undefined;
		});
		await new Promise((r) => setTimeout(r, 1000));
		const index = Number(victim.process.slice(-1)) - 1;
		const killedAt = Date.now();
		await workers[index].kill();
		try {
			const runs = await succeededRuns(id, expected, 240_000);
			const all = await instantRuns(id);
			assert.deepEqual(
				tally(
					expected,
					runs.map((r) => r.subject),
				),
				{ lost: 0, duplicated: 0 },
				'each message processed successfully once',
			);
			const executions = await storedExecutions(id);
			const killed = executions.find((e) => String(e.id) === victim.execution);
			assert.equal(killed?.status, 'error', 'n8n shows the killed run as failed');
			const slow = executions
				.filter((e) => e.status === 'success')
				.flatMap((e) => runData(e, 'Process'))
				.filter((i) => i.json.subject === 'slow 000');
			assert.deepEqual(
				slow.map((i) => i.json.attempt),
				[2],
				'the second emit succeeded, once',
			);
			console.log(
				`worker killed mid-run: n8n shows execution ${victim.execution} as "${String(killed?.status)}"; the message's second emit succeeded ${Math.round((Date.now() - killedAt) / 1000)} s or less after the kill (${all.length} runs in all)`,
			);
			await allRead(folder).catch(async (error: Error) => {
				// Name what stayed unread, and every line main logged about it.
				const unread = (await listFolder(folder)).filter((m) => !m.flags.includes('\\Seen'));
				const about = main
					.output()
					.split('\n')
					.filter((line) => unread.some((m) => line.includes(`:${m.uid}:${folder}`)));
				throw new Error(
					`${unread.map((m) => `"${m.subject}" (UID ${m.uid})`).join(', ')} left unread; main logged about them:\n${about.join('\n')}\n${error.message}`,
				);
			});
		} finally {
			await workers[index].start();
			await main.api('POST', `/workflows/${id}/deactivate`);
		}
	});

	it('main never learns that a run ended (the worker completed its job before main asked Bull about it): the instant trigger takes the worker’s report, marks each message read once, and emits none again', async () => {
		const folder = await freshFolder('queue-missed-end');
		const id = await activeInstantWorkflow(
			'Queue: main misses the end of runs',
			folder,
			{
				afterEmit: 'markRead',
				options: { redeliverAfterMinutes: 0.05, maxWaitMinutes: 3 },
			},
			codeNode('return { json: { subject: $json.subject, attempt: $json.delivery.attempt } };'),
		);
		const expected = names('missed end', 3);
		const heldBefore = mainRedis.held;
		// main's check of each job reaches Redis 5 s late: these runs end first (see RedisDelay).
		mainRedis.holdFinishedChecks(5000);
		try {
			await appendMails(
				folder,
				expected.map((subject) => ({ subject })),
			);
			const runs = await succeededRuns(id, expected, 60_000);
			// Read 15 s after the worker's report; without it, not before Max Wait (3 minutes).
			await allRead(folder, 60_000);
			// Longer than Emit Again After a Failed Run (3 s): a message emitted again would show.
			await new Promise((r) => setTimeout(r, 9000));
			const successes = (await instantRuns(id)).filter((r) => r.status === 'success');
			assert.deepEqual(
				tally(
					expected,
					successes.map((r) => r.subject),
				),
				{ lost: 0, duplicated: 0 },
			);
			// The race did happen: main held back its checks, and finalized none of these runs.
			const log = main.output();
			const missed = runs.filter(
				(r) => !log.includes(`Execution finalized {"executionId":"${r.executionId}"`),
			);
			assert.ok(mainRedis.held > heldBefore, 'main asked Bull whether a job finished');
			assert.ok(
				missed.length > 0,
				`main missed the end of a run (${missed.length} of ${runs.length})`,
			);
			const taken = log.match(/did not report the end of the run of [^;]*queue-missed-end/g) ?? [];
			assert.equal(
				taken.length,
				missed.length,
				'the worker’s report was taken for each run main missed',
			);
			console.log(
				`main missed the end of ${missed.length} of ${runs.length} runs; each message read once`,
			);
		} finally {
			mainRedis.holdFinishedChecks(0);
			await main.api('POST', `/workflows/${id}/deactivate`);
		}
	});

	it('one delegated credential refreshed at once by main and both workers while its tokens expire: every run succeeds and the credential stays connected (Microsoft’s rotation); strict rotation reported', async () => {
		const folder = await freshFolder('queue-tokens');
		// Access tokens live 60 s, under the 5-minute margin: every use of the credential refreshes it
		// (the credential's first token too: it is signed in after this).
		const saved = await oauthSettings({ accessTokenLifetime: 60 });
		try {
			const [tokenCredential] = await importCredentials([
				{ id: 'M365QueueToken001', name: 'Alice (IMAP, tokens)', scopes: IMAP_SCOPES },
			]);
			const ref = { m365MailOAuth2Api: tokenCredential };
			const id = await main.createWorkflow(
				'Queue: shared credential',
				[
					triggerWorkflowNode(
						'New Mail',
						folder,
						ref,
						{ afterEmit: 'markRead', maxMessages: 50 },
						'm365MailInstantTrigger',
					),
					actionWorkflowNode('Flag', 1, ref, {
						resource: 'message',
						operation: 'flag',
						messageId: '={{ $json.id }}',
					}),
				],
				{ 'New Mail': { main: [[{ node: 'Flag', type: 'main', index: 0 }]] } },
			);
			// A polling trigger on main with the same credential, polled during the bursts.
			const pollerFolder = await freshFolder('queue-tokens-poll');
			const poller = await main.createWorkflow(
				'Queue: shared credential (poll)',
				[triggerWorkflowNode('New Mail', pollerFolder, ref, { maxMessages: 50 })],
				{},
			);
			await main.api('POST', `/workflows/${id}/activate`);
			await main.api('POST', `/workflows/${poller}/activate`);
			await new Promise((r) => setTimeout(r, 1500));
			const before = await tokenRequestCounts();
			const expected = names('token', 40);
			for (const burst of [expected.slice(0, 20), expected.slice(20)]) {
				await appendMails(
					folder,
					burst.map((subject) => ({ subject })),
				);
				await appendMails(pollerFolder, [{ subject: `poll ${burst[0]}` }]);
				await main.pollNow(poller);
			}
			const runs = await succeededRuns(id, expected, 120_000);
			const refreshes = (await tokenRequestCounts()).refresh_token - before.refresh_token;
			const all = await instantRuns(id);
			assert.deepEqual(
				{
					failed: all.filter((r) => r.status !== 'success').length,
					...tally(
						expected,
						all.map((r) => r.subject),
					),
				},
				{ failed: 0, lost: 0, duplicated: 0 },
			);
			const byProcess = await executionsByProcess(id);
			console.log(
				`shared credential, Microsoft's rotation: ${runs.length} runs succeeded (${JSON.stringify(byProcess)}), ${refreshes} refresh-token requests`,
			);
			assert.ok(byProcess['worker 1'] > 0 && byProcess['worker 2'] > 0, 'both workers ran some');
			assert.ok(refreshes > 0, 'the credential was refreshed while the runs went on');
			const flagged = (await listFolder(folder)).filter((m) => m.flags.includes('\\Flagged'));
			assert.equal(flagged.length, 40);
			// Still connected: the poller on main polls with what n8n stored last.
			await appendMails(pollerFolder, [{ subject: 'poll after' }]);
			await main.pollNow(poller);
			await waitForAll(poller, 'New Mail', ['poll after'], 30_000);

			// Strict rotation (not Microsoft's rule): a used refresh token is revoked. Reported, not a guarantee.
			await oauthSettings({ strictRotation: true });
			const strict = names('strict', 20);
			await appendMails(
				folder,
				strict.map((subject) => ({ subject })),
			);
			await main.pollNow(poller);
			await main
				.waitFor(
					'the strict-rotation runs to finish',
					async () => {
						const done = (await instantRuns(id)).filter((r) => strict.includes(r.subject));
						return new Set(done.map((r) => r.subject)).size === strict.length ? done : undefined;
					},
					120_000,
				)
				.catch(() => undefined);
			const strictRuns = (await instantRuns(id)).filter((r) => strict.includes(r.subject));
			const errors = new Set<string>();
			for (const e of await storedExecutions(id)) {
				const error = (e.data as { resultData?: { error?: { message?: string } } })?.resultData
					?.error?.message;
				if (error) errors.add(error.slice(0, 160));
			}
			console.log(
				`shared credential, strict rotation: ${strictRuns.filter((r) => r.status === 'success').length} of ${strict.length} runs succeeded, ${strictRuns.filter((r) => r.status !== 'success').length} failed; errors: ${JSON.stringify([...errors])}`,
			);
			for (const message of errors)
				assert.doesNotMatch(message, /eyJ|refresh_token=|access_token=/);
			await main.api('POST', `/workflows/${id}/deactivate`);
			await main.api('POST', `/workflows/${poller}/deactivate`);
		} finally {
			await oauthSettings(saved);
		}
	});

	it('durable scheduler and durable cursors: main killed the moment a scheduled poll hands its mail over; the backlog, larger than one poll, drains over several: 0 lost, 0 duplicated', async () => {
		await main.stop();
		main.options.logLevel = 'debug'; // to see the moment n8n hands a poll's items over
		Object.assign(main.options.env ?? {}, {
			N8N_SCHEDULER_ENABLED: 'true',
			N8N_SCHEDULER_POLL_TRIGGERS_ENABLED: 'true',
			N8N_POLLER_DURABLE_CURSORS_ENABLED: 'true',
			N8N_USE_WORKFLOW_PUBLICATION_SERVICE: 'true',
		});
		await main.start();
		await main.login();
		const folder = await freshFolder('queue-durable');
		const id = await main.createWorkflow(
			'Queue: durable cursors',
			[
				triggerWorkflowNode('New Mail', folder, imapRef, {
					afterEmit: 'markRead',
					maxMessages: 25,
					// Every minute, first 15 s from now (n8n's Every Minute picks a random second).
					pollTimes: everyMinuteFromNow(15),
				}),
			],
			{},
		);
		await main.api('POST', `/workflows/${id}/activate`);
		// Mail after the activation: "start from now" must still emit it (the activation poll's node
		// data is not kept in this mode).
		const expected = names('durable', 50);
		await appendMails(
			folder,
			expected.map((subject) => ({ subject })),
		);
		// n8n's first scheduled poll takes 25. As soon as n8n logs that it handed them over (it then
		// writes the execution and the cursor, in one transaction in this mode), main is killed.
		const log = main.options.logFile!;
		let offset = statSync(log).size;
		let tail = '';
		const deadline = Date.now() + 150_000;
		for (;;) {
			const size = statSync(log).size;
			if (size > offset) {
				const chunk = Buffer.alloc(size - offset);
				const fd = openSync(log, 'r');
				try {
					readSync(fd, chunk, 0, chunk.length, offset);
				} finally {
					closeSync(fd);
				}
				offset = size;
				tail = (tail + chunk.toString()).slice(-20_000);
				const at = tail.search(
					new RegExp(`Poll returned new data; handed off.*"workflowId":"${id}"`),
				);
				if (at >= 0) {
					await main.kill();
					tail = tail.slice(at);
					break;
				}
			}
			if (Date.now() > deadline) throw new Error('no scheduled poll handed mail over in 150 s');
			await new Promise((r) => setTimeout(r, 5));
		}
		const writtenBeforeKill = /Enqueued execution/.test(tail);
		await main.start();
		await main.login();
		await waitForAll(id, 'New Mail', expected, 180_000);
		// One more poll (a re-activation polls at once): nothing comes twice.
		await main.pollNow(id);
		await new Promise((r) => setTimeout(r, 3000));
		const seen = await processed(id, 'New Mail');
		assert.deepEqual(tally(expected, seen), { lost: 0, duplicated: 0 });
		const executions = (await storedExecutions(id)).filter((e) => e.mode === 'trigger');
		console.log(
			`durable cursors: ${executions.length} executions for 50 messages; n8n had ${writtenBeforeKill ? '' : 'not '}logged the killed poll's execution when main was killed`,
		);
		assert.ok(executions.length >= 2, 'the backlog took several polls');
		const rows = postgres.query(`SELECT count(*) FROM poller_state WHERE "workflowId" = '${id}'`);
		assert.deepEqual(rows, [['1']], 'the cursor is in n8n’s durable cursor table');
		const left = await listFolder(folder);
		assert.equal(left.filter((m) => !m.flags.includes('\\Seen')).length, 0);
		await main.api('POST', `/workflows/${id}/deactivate`);
	});
});

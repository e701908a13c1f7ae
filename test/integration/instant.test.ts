/**
 * The instant trigger through n8n-core's real TriggerContext against the real Dovecot: notice by
 * IMAP IDLE, one emit per message, the after-run action only after a successful run, a failed run
 * emitted again after the delay, and a message whose run has not finished never emitted twice.
 * `emit` here resolves the done promise the way n8n does once the run finished (real n8n:
 * test/e2e/instant.test.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type {
	IDataObject,
	INodeExecutionData,
	INodeParameters,
	IRun,
	ITriggerResponse,
} from 'n8n-workflow';

import { count } from '../harness/count';
import {
	appendMails,
	freshFolder,
	ImapTlsProxy,
	listFolder,
	killImapProcesses,
	recreateFolder,
	restartDovecot,
} from '../harness/mail';
import { createTriggerContext, CredentialStore, triggerNode } from '../harness/n8n';
import { delegatedCredential, IMAP_SCOPES, signIn } from '../harness/stack';
import { idleTiming } from '../../nodes/M365Mail/transport/imap/idle';
import { sessionTiming } from '../../nodes/M365Mail/transport/imap/session';

const store = new CredentialStore();

type RunResult = 'success' | 'error' | 'waiting' | 'never' | 'held';

/**
 * Starts the instant trigger; every emit is one "run" whose outcome `decide` picks. A "held" run ends
 * when the test calls its entry in `held` with the run's status.
 */
async function start(
	folder: string,
	parameters: INodeParameters,
	decide: (subject: string, attempt: number) => RunResult,
	staticData: IDataObject = {},
	credential = 'alice',
) {
	const emitted: Array<{ subject: string; attempt: number; at: number }> = [];
	/** Each emit is one run: its items as "subject#attempt". */
	const runs: string[][] = [];
	const failures: Error[] = [];
	const held: Array<(status: 'success' | 'error') => void> = [];
	const context = createTriggerContext(
		triggerNode(folder, parameters, credential, 'imap'),
		store,
		{
			emit: (data: INodeExecutionData[][], response, done) => {
				const outcomes: RunResult[] = [];
				const run: string[] = [];
				for (const item of data[0]) {
					const subject = String(item.json.subject);
					const attempt = Number((item.json.delivery as IDataObject).attempt);
					emitted.push({ subject, attempt, at: Date.now() });
					run.push(`${subject}#${attempt}`);
					outcomes.push(decide(subject, attempt));
				}
				runs.push(run);
				// One run for all the items: it fails if any item's does.
				const outcome = (['never', 'held', 'error', 'waiting'] as const).find((o) =>
					outcomes.includes(o),
				);
				if (outcome === 'never') return;
				// As n8n does without queue mode: the response promise gets `{}` whatever the outcome,
				// then the done promise the finished run (test/unit/outcome.test.ts has queue mode's).
				const end = (status: string) => {
					response?.resolve({});
					done?.resolve({ status, data: { resultData: { runData: {} } } } as unknown as IRun);
				};
				if (outcome === 'held') held.push(end);
				// The run takes a moment, then n8n settles the done promise with it.
				else setTimeout(() => end(outcome ?? 'success'), 50);
			},
			emitError: (error) => failures.push(error),
			saveFailedExecution: (error) => failures.push(error),
		},
		{ staticData },
	);
	const { M365MailInstantTrigger } = await import(
		'../../nodes/M365Mail/M365MailInstantTrigger.node.ts'
	);
	const response: ITriggerResponse = await new M365MailInstantTrigger().trigger.call(context);
	return { emitted, runs, failures, held, response, staticData };
}

/** A TLS proxy in front of Dovecot, and a credential `name` for alice that signs in through it. */
async function throughProxy(name: string): Promise<ImapTlsProxy> {
	const proxy = new ImapTlsProxy();
	await proxy.start();
	try {
		store.set(
			name,
			delegatedCredential(await signIn('alice@example.test', IMAP_SCOPES), {
				customImapPort: proxy.port,
			}),
		);
	} catch (error) {
		await proxy.stop();
		throw error;
	}
	return proxy;
}

async function until<T>(
	what: string,
	probe: () => T | undefined | Promise<T | undefined>,
	ms = 20_000,
) {
	const deadline = Date.now() + ms;
	for (;;) {
		const value = await probe();
		if (value !== undefined) return value;
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

/** Waits until the trigger has emitted a message with this subject. */
const untilEmitted = async (
	t: { emitted: Array<{ subject: string }> },
	subject: string,
	ms?: number,
) =>
	await until(
		`${subject} emitted`,
		() => (t.emitted.some((e) => e.subject === subject) ? true : undefined),
		ms,
	);

const unreadIn = async (folder: string) =>
	(await listFolder(folder)).filter((m) => !m.flags.includes('\\Seen')).map((m) => m.subject);

/** Waits until nothing in `folder` is unread; a timeout names what still is. */
async function allRead(folder: string, what = 'all read', ms?: number) {
	let unread: string[] = [];
	try {
		await until(
			what,
			async () => ((unread = await unreadIn(folder)).length === 0 ? true : undefined),
			ms,
		);
	} catch (error) {
		throw new Error(`${(error as Error).message}; still unread: ${unread.join(', ')}`);
	}
}

describe('instant trigger (IMAP IDLE) through n8n-core’s TriggerContext', () => {
	before(async () => {
		store.set('alice', delegatedCredential(await signIn('alice@example.test', IMAP_SCOPES)));
	});

	const running: ITriggerResponse[] = [];
	after(async () => {
		for (const r of running) await r.closeFunction?.();
	});

	it('new mail is emitted within seconds of its delivery, one emit per message, and marked read after its run succeeded', async () => {
		const folder = await freshFolder('instant');
		const t = await start(folder, { afterEmit: 'markRead' }, () => 'success');
		running.push(t.response);
		const sent = Date.now();
		await appendMails(folder, [{ subject: 'first' }, { subject: 'second' }]);
		await until('two emits', () => (t.emitted.length >= 2 ? true : undefined));
		assert.ok(t.emitted.every((e) => e.at - sent < 10_000));
		await allRead(folder, 'both read');
		assert.deepEqual(
			t.emitted.map((e) => [e.subject, e.attempt]),
			[
				['first', 1],
				['second', 1],
			],
		);
		await t.response.closeFunction?.();
	});

	it('a failed run leaves the message unread; it is emitted again after the delay and marked read after the run that succeeded', async () => {
		const folder = await freshFolder('instant-fail');
		const t = await start(
			folder,
			{ afterEmit: 'markRead', options: { redeliverAfterMinutes: 0.05, maxAttempts: 3 } },
			(subject, attempt) => (subject === 'flaky' && attempt === 1 ? 'error' : 'success'),
		);
		running.push(t.response);
		await appendMails(folder, [{ subject: 'flaky' }, { subject: 'fine' }]);
		await until('the first runs', () => (t.emitted.length >= 2 ? true : undefined));
		await new Promise((r) => setTimeout(r, 500));
		assert.deepEqual(await unreadIn(folder), ['flaky']);
		await until('flaky again', () =>
			t.emitted.some((e) => e.subject === 'flaky' && e.attempt === 2) ? true : undefined,
		);
		await allRead(folder, 'all read');
		await new Promise((r) => setTimeout(r, 4000));
		assert.deepEqual(t.emitted.map((e) => `${e.subject}#${e.attempt}`).sort(), [
			'fine#1',
			'flaky#1',
			'flaky#2',
		]);
		assert.deepEqual(t.failures, []);
		await t.response.closeFunction?.();
	});

	it('Messages per Execution 3: messages found together share executions of up to 3; a failed execution emits all of its messages again, and each is marked read only after its execution succeeded', async () => {
		const folder = await freshFolder('instant-batch');
		const subjects = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'];
		await appendMails(
			folder,
			subjects.map((subject) => ({ subject })),
		);
		const t = await start(
			folder,
			{
				afterEmit: 'markRead',
				startFrom: 'existing',
				options: { messagesPerRun: 3, redeliverAfterMinutes: 0.05, maxAttempts: 3 },
			},
			(subject, attempt) => (subject === 'm5' && attempt === 1 ? 'error' : 'success'),
		);
		running.push(t.response);
		await until('the first runs', () => (t.runs.length >= 3 ? true : undefined));
		await new Promise((r) => setTimeout(r, 500));
		// The execution with m5 failed: its three messages stay unread, the others are read.
		assert.deepEqual((await unreadIn(folder)).sort(), ['m4', 'm5', 'm6']);
		await allRead(folder, 'all read');
		await new Promise((r) => setTimeout(r, 4000));
		assert.deepEqual(t.runs, [
			['m1#1', 'm2#1', 'm3#1'],
			['m4#1', 'm5#1', 'm6#1'],
			['m7#1'],
			['m4#2', 'm5#2', 'm6#2'],
		]);
		assert.deepEqual(t.failures, []);
		await t.response.closeFunction?.();
	});

	it('a run that outlasts Max Wait for a Run counts as failed: the message stays unread until then, is emitted again after the delay, and is marked read after that run succeeds', async () => {
		const folder = await freshFolder('instant-maxwait');
		const t = await start(
			folder,
			{
				afterEmit: 'markRead',
				options: { redeliverAfterMinutes: 0.05, maxAttempts: 3, maxWaitMinutes: 0.25 },
			},
			(_subject, attempt) => (attempt === 1 ? 'never' : 'success'),
		);
		running.push(t.response);
		await appendMails(folder, [{ subject: 'slow' }]);
		await until('the first run', () => (t.emitted.length >= 1 ? true : undefined));
		const first = t.emitted[0].at;
		// Still running at 12 s (Max Wait is 15 s): neither emitted again nor marked read.
		await new Promise((r) => setTimeout(r, 12_000));
		assert.equal(t.emitted.length, 1);
		assert.deepEqual(await unreadIn(folder), ['slow']);
		await until('the second run', () => (t.emitted.length >= 2 ? true : undefined), 30_000);
		assert.ok(
			t.emitted[1].at - first >= 15_000,
			`emitted again after ${t.emitted[1].at - first} ms`,
		);
		await allRead(folder, 'read');
		assert.deepEqual(
			t.emitted.map((e) => `${e.subject}#${e.attempt}`),
			['slow#1', 'slow#2'],
		);
		assert.deepEqual(t.failures, []);
		await t.response.closeFunction?.();
	});

	it('a run that never finishes is not emitted again while it runs; with Do Nothing after success, a successful message is not emitted again', async () => {
		const folder = await freshFolder('instant-hold');
		const t = await start(
			folder,
			{
				afterEmit: 'none',
				options: { redeliverAfterMinutes: 0.03, maxAttempts: 5, maxWaitMinutes: 1 },
			},
			(subject) => (subject === 'slow' ? 'never' : 'success'),
		);
		running.push(t.response);
		await appendMails(folder, [{ subject: 'slow' }, { subject: 'quick' }]);
		await until('two emits', () => (t.emitted.length >= 2 ? true : undefined));
		// Several redelivery delays pass, and new mail makes the trigger look again meanwhile.
		for (let i = 0; i < 3; i++) {
			await new Promise((r) => setTimeout(r, 2500));
			await appendMails(folder, [{ subject: `later ${i}` }]);
		}
		await new Promise((r) => setTimeout(r, 2500));
		const counts = new Map<string, number>();
		for (const e of t.emitted) counts.set(e.subject, (counts.get(e.subject) ?? 0) + 1);
		assert.deepEqual(Object.fromEntries(counts), {
			slow: 1,
			quick: 1,
			'later 0': 1,
			'later 1': 1,
			'later 2': 1,
		});
		await t.response.closeFunction?.();
	});

	it('the folder rebuilt (new UIDVALIDITY) while a run goes on: when the run succeeds, its message is marked read under its new UID (found by Message-ID) and its copy is not emitted; the IDLE session, which hears nothing on the old folder, is renewed: new mail comes within seconds', async () => {
		const folder = await freshFolder('instant-rebuilt');
		const t = await start(folder, { afterEmit: 'markRead' }, (subject) =>
			subject === 'running' ? 'held' : 'success',
		);
		running.push(t.response);
		await appendMails(folder, [{ subject: 'running' }]);
		await untilEmitted(t, 'running');
		// The server rebuilds the folder (same message and flags, new UID) while the run goes on.
		await recreateFolder(folder);
		t.held[0]('success');
		await allRead(folder, 'the run that outlived the rebuild marked read');
		// The catch-up after that success found the reset; new mail is noticed (not at the 5-minute look).
		await appendMails(folder, [{ subject: 'after the rebuild' }]);
		await untilEmitted(t, 'after the rebuild');
		await allRead(folder, 'all read');
		assert.deepEqual(
			t.emitted.map((e) => `${e.subject}#${e.attempt}`),
			['running#1', 'after the rebuild#1'],
		);
		assert.deepEqual(t.failures, []);
		await t.response.closeFunction?.();
	});

	it('Dovecot restarted while the trigger watches: the IDLE session comes back by itself and the mail of the gap and after it comes, each once', async () => {
		const folder = await freshFolder('instant-restart');
		const t = await start(folder, { afterEmit: 'markRead' }, () => 'success');
		running.push(t.response);
		await appendMails(folder, [{ subject: 'before' }]);
		await until('before', () => (t.emitted.length >= 1 ? true : undefined));
		await restartDovecot();
		// Appended at once: the new IDLE session's catch-up (or its EXISTS) finds it.
		await appendMails(folder, [{ subject: 'gap' }]);
		await untilEmitted(t, 'gap', 30_000);
		await appendMails(folder, [{ subject: 'after' }]);
		await untilEmitted(t, 'after');
		await allRead(folder, 'all read');
		assert.deepEqual(
			t.emitted.map((e) => e.subject),
			['before', 'gap', 'after'],
		);
		assert.deepEqual(t.failures, []);
		await t.response.closeFunction?.();
	});

	it('the IMAP process serving the IDLE session killed (no BYE, as a crash): the session comes back by itself and the mail of the gap and after it comes, each once', async () => {
		const folder = await freshFolder('instant-killed');
		const t = await start(folder, { afterEmit: 'markRead' }, () => 'success');
		running.push(t.response);
		await appendMails(folder, [{ subject: 'before kill' }]);
		await until('before kill', () => (t.emitted.length >= 1 ? true : undefined));
		assert.ok(killImapProcesses() >= 1, 'an IMAP process was killed');
		await appendMails(folder, [{ subject: 'gap after kill' }]);
		await untilEmitted(t, 'gap after kill', 30_000);
		await appendMails(folder, [{ subject: 'after kill' }]);
		await untilEmitted(t, 'after kill');
		await allRead(folder, 'all read');
		assert.deepEqual(
			t.emitted.map((e) => e.subject),
			['before kill', 'gap after kill', 'after kill'],
		);
		assert.deepEqual(t.failures, []);
		await t.response.closeFunction?.();
	});

	// A proxy drops the connection as the UID STORE is sent (no BYE, as a crash). With a short delay
	// for failed runs: the message is held while its action is tried again.
	const drops = [
		{
			times: 2,
			how: 'the connection drops twice as the action after a successful run is sent: the action is tried again, not the run; the message comes once and is read',
			runs: 1,
		},
		{
			times: 6,
			how: 'the action after a successful run fails six times: the message is emitted again after the delay, once, and read after that run',
			runs: 2,
		},
	];
	for (const { times, how, runs } of drops) {
		it(how, async () => {
			const proxy = await throughProxy('alice-drop');
			try {
				const folder = await freshFolder('instant-drop');
				const t = await start(
					folder,
					{ afterEmit: 'markRead', options: { redeliverAfterMinutes: 0.03 } },
					() => 'success',
					{},
					'alice-drop',
				);
				running.push(t.response);
				proxy.dropOn('UID STORE', times);
				await appendMails(folder, [{ subject: 'dropped' }]);
				await allRead(folder, 'read after the drops', 40_000);
				assert.equal(proxy.dropped, times, `${times} UID STOREs dropped their connection`);
				await appendMails(folder, [{ subject: 'after' }]);
				await untilEmitted(t, 'after');
				await allRead(folder);
				assert.deepEqual(
					t.emitted.map((e) => `${e.subject}#${e.attempt}`),
					[...Array.from({ length: runs }, (_, i) => `dropped#${i + 1}`), 'after#1'],
				);
				assert.deepEqual(t.failures, []);
				await t.response.closeFunction?.();
			} finally {
				await proxy.stop();
			}
		});
	}

	it('runs that succeed together are marked read together: 30 successes take a few UID STOREs, not 30', async () => {
		const proxy = await throughProxy('alice-counted');
		try {
			const folder = await freshFolder('instant-together');
			const subjects = Array.from({ length: 30 }, (_, i) => `together ${i}`);
			await appendMails(
				folder,
				subjects.map((subject) => ({ subject })),
			);
			const t = await start(
				folder,
				{ afterEmit: 'markRead', startFrom: 'existing' },
				() => 'success',
				{},
				'alice-counted',
			);
			running.push(t.response);
			await allRead(folder, 'all read');
			const stores = proxy.commands.get('UID STORE') ?? 0;
			console.log(`30 successful runs marked read with ${stores} UID STORE command(s)`);
			assert.ok(stores >= 1 && stores <= 5, `${stores} UID STOREs`);
			assert.deepEqual(t.emitted.map((e) => e.subject).sort(), [...subjects].sort());
			await t.response.closeFunction?.();
		} finally {
			await proxy.stop();
		}
	});

	it('a message the server shows only after newer ones were emitted, with no notice when it does: looked for again within seconds, emitted once and read', async () => {
		const proxy = await throughProxy('alice-late');
		try {
			const folder = await freshFolder('instant-late');
			const t = await start(folder, { afterEmit: 'markRead' }, () => 'success', {}, 'alice-late');
			running.push(t.response);
			await appendMails(folder, [{ subject: 'late first' }]);
			await allRead(folder, 'the first read');
			// The next UID is handed out but not shown (SEARCH and FETCH leave it out) until later;
			// its EXISTS comes at delivery, as the newer message's does, so no notice comes after.
			const hiddenUid = Math.max(...(await listFolder(folder)).map((m) => m.uid)) + 1;
			proxy.hidden.add(hiddenUid);
			await appendMails(folder, [{ subject: 'late hidden' }, { subject: 'late after' }]);
			// The newer message is emitted and read, and the catch-up that records its success is over:
			// from here on only a look of the trigger's own can find the late one.
			await until('the newer message read', async () =>
				(await listFolder(folder)).some(
					(m) => m.subject === 'late after' && m.flags.includes('\\Seen'),
				)
					? true
					: undefined,
			);
			await new Promise((r) => setTimeout(r, 1000));
			const shown = Date.now();
			proxy.hidden.delete(hiddenUid);
			// Without a look of its own the trigger would wait for its 5-minute safety check.
			await untilEmitted(t, 'late hidden', 90_000);
			console.log(`a late message emitted ${Date.now() - shown} ms after the server showed it`);
			await allRead(folder, 'all read');
			assert.deepEqual(
				count(
					['late first', 'late hidden', 'late after'],
					t.emitted.map((e) => e.subject),
				),
				{ lost: [], duplicated: [] },
			);
			await t.response.closeFunction?.();
		} finally {
			await proxy.stop();
		}
	});

	const endings = {
		'the server ends the IDLE session with BYE AccessTokenExpired (as Exchange Online does)': (
			proxy: ImapTlsProxy,
		) => proxy.byeAll('Session invalidated - AccessTokenExpired'),
	};
	for (const [how, end] of Object.entries(endings)) {
		it(`${how}: the trigger signs in again and the mail around it comes, each once`, async () => {
			const proxy = await throughProxy('alice-proxy');
			try {
				const folder = await freshFolder('instant-end');
				const t = await start(
					folder,
					{ afterEmit: 'markRead' },
					() => 'success',
					{},
					'alice-proxy',
				);
				running.push(t.response);
				await appendMails(folder, [{ subject: 'before' }]);
				await until('before', () => (t.emitted.length >= 1 ? true : undefined));
				await allRead(folder, 'before read');
				const connections = proxy.connections;
				assert.ok(end(proxy) >= 1, 'a session was ended');
				await appendMails(folder, [{ subject: 'gap' }]);
				await untilEmitted(t, 'gap', 30_000);
				await appendMails(folder, [{ subject: 'after' }]);
				await untilEmitted(t, 'after');
				await allRead(folder, 'all read');
				assert.deepEqual(
					t.emitted.map((e) => e.subject),
					['before', 'gap', 'after'],
				);
				assert.ok(proxy.connections > connections, 'signed in again');
				assert.deepEqual(t.failures, []);
				await t.response.closeFunction?.();
			} finally {
				await proxy.stop();
			}
		});
	}

	it('the connection goes silent and stays open on both ends (a NAT, firewall or proxy that lost it): the IDLE session is found silent at its next check, closed and replaced, the mail of the gap and after it comes, each once, and deactivating does not wait on a silent session', async () => {
		// The checks every few seconds instead of every 2 minutes; the same code runs.
		const saved = { ...idleTiming };
		Object.assign(idleTiming, { checkMs: 2000, answerMs: 1000 });
		const proxy = await throughProxy('alice-stall');
		try {
			const folder = await freshFolder('instant-stall');
			const t = await start(folder, { afterEmit: 'markRead' }, () => 'success', {}, 'alice-stall');
			running.push(t.response);
			await appendMails(folder, [{ subject: 'before' }]);
			await untilEmitted(t, 'before');
			await allRead(folder, 'before read');
			await proxy.untilQuiet(1000);
			const connections = proxy.connections;
			// The IDLE session and the session of the looks go silent while the trigger waits for mail.
			const stalledAt = Date.now();
			assert.ok(proxy.stall() >= 1, 'a session went silent');
			await appendMails(folder, [{ subject: 'gap' }]);
			// Well before the 5-minute safety look: the new IDLE session's first look finds it.
			await untilEmitted(t, 'gap', 40_000);
			console.log(
				`mail that came while the sessions were silent: emitted after ${Date.now() - stalledAt} ms`,
			);
			await appendMails(folder, [{ subject: 'after' }]);
			await untilEmitted(t, 'after');
			await allRead(folder, 'all read');
			assert.deepEqual(
				count(
					['before', 'gap', 'after'],
					t.emitted.map((e) => e.subject),
				),
				{ lost: [], duplicated: [] },
			);
			assert.equal(t.emitted.length, 3);
			assert.ok(proxy.connections > connections, 'signed in again');
			assert.ok(proxy.stalledClosed >= 1, 'the silent sessions were closed, not left open');
			assert.deepEqual(t.failures, []);
			// Deactivating while the sessions are silent ends without their goodbye.
			await proxy.untilQuiet(1000);
			assert.ok(proxy.stall() >= 1, 'a session went silent again');
			const closing = t.response.closeFunction?.().then(() => 'closed');
			const hung = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 25_000));
			assert.equal(await Promise.race([closing, hung]), 'closed');
		} finally {
			Object.assign(idleTiming, saved);
			await proxy.stop();
		}
	});

	for (const silence of [
		{
			what: 'the session that reads the mail goes silent in the middle of its FETCH and stays open: it is given up at the socket timeout and the trigger looks again soon on a new session (not at the 5-minute safety look); each message once, read',
			every: false,
			// The socket timeout is 5 minutes by default; the same code runs.
			shorten: () => (sessionTiming.socketTimeoutMs = 3000),
			closed: 1,
		},
		{
			what: 'the way to the server goes silent while the session that reads the mail waits on its FETCH: when the IDLE session is found silent, the waiting session is given up with it (not at its 5-minute socket timeout); the mail comes once, read',
			every: true,
			// The IDLE checks every 2 s instead of every minute; the socket timeout stays 5 minutes.
			shorten: () => Object.assign(idleTiming, { checkMs: 2000, answerMs: 1000 }),
			closed: 2,
		},
	]) {
		it(silence.what, async () => {
			const saved = [{ ...sessionTiming }, { ...idleTiming }] as const;
			silence.shorten();
			const proxy = await throughProxy(`alice-stall-${silence.closed}`);
			try {
				const folder = await freshFolder('instant-stall-fetch');
				const t = await start(
					folder,
					{ afterEmit: 'markRead' },
					() => 'success',
					{},
					`alice-stall-${silence.closed}`,
				);
				running.push(t.response);
				await appendMails(folder, [{ subject: 'before' }]);
				await untilEmitted(t, 'before');
				await allRead(folder, 'before read');
				proxy.stallOn('UID FETCH', 1, silence.every);
				const stalledAt = Date.now();
				await appendMails(folder, [{ subject: 'stalled' }]);
				await untilEmitted(t, 'stalled', 40_000);
				console.log(
					`mail whose FETCH went silent${silence.every ? ' with every session' : ''}: emitted after ${Date.now() - stalledAt} ms`,
				);
				await allRead(folder, 'all read');
				// The silent session of the look (and the IDLE session, when every session went silent).
				assert.equal(proxy.stalledClosed, silence.closed, 'the silent sessions were closed');
				assert.equal(proxy.silentOpen, 0);
				assert.deepEqual(
					count(
						['before', 'stalled'],
						t.emitted.map((e) => e.subject),
					),
					{ lost: [], duplicated: [] },
				);
				assert.deepEqual(t.failures, []);
				await t.response.closeFunction?.();
			} finally {
				Object.assign(sessionTiming, saved[0]);
				Object.assign(idleTiming, saved[1]);
				await proxy.stop();
			}
		});
	}

	it('after the last failed attempt the message is flagged and moved as chosen, and a failed execution names it', async () => {
		const folder = await freshFolder('instant-giveup');
		const failed = await freshFolder('instant-failed');
		const t = await start(
			folder,
			{
				afterEmit: 'markRead',
				options: {
					redeliverAfterMinutes: 0.03,
					maxAttempts: 2,
					giveUpFlag: true,
					giveUpMoveTo: failed,
				},
			},
			(subject) => (subject === 'hopeless' ? 'error' : 'success'),
		);
		running.push(t.response);
		await appendMails(folder, [{ subject: 'hopeless' }, { subject: 'fine' }]);
		const moved = await until(
			'the give-up move',
			async () => {
				const there = await listFolder(failed);
				return there.length ? there : undefined;
			},
			30_000,
		);
		assert.deepEqual(
			moved.map((m) => [m.subject, m.flags.includes('\\Flagged'), m.flags.includes('\\Seen')]),
			[['hopeless', true, false]],
		);
		assert.deepEqual(
			(await listFolder(folder)).map((m) => m.subject),
			['fine'],
		);
		assert.deepEqual(t.emitted.map((e) => `${e.subject}#${e.attempt}`).sort(), [
			'fine#1',
			'hopeless#1',
			'hopeless#2',
		]);
		assert.equal(t.failures.length, 1);
		assert.match(t.failures[0].message, /emitted 2 times/);
		await t.response.closeFunction?.();
	});

	it('over Microsoft Graph with New Mail Notice "IMAP IDLE" the activation fails with an error that names Graph change notifications and the polling trigger', async () => {
		const { GRAPH_SCOPES } = await import('../harness/graph');
		store.set(
			'alice-graph',
			delegatedCredential(await signIn('alice@example.test', GRAPH_SCOPES), { access: 'graph' }),
		);
		const context = createTriggerContext(triggerNode('Inbox', {}, 'alice-graph', 'graph'), store, {
			emit: () => undefined,
		});
		const { M365MailInstantTrigger } = await import(
			'../../nodes/M365Mail/M365MailInstantTrigger.node.ts'
		);
		await assert.rejects(
			new M365MailInstantTrigger().trigger.call(context),
			(e: Error & { description?: string }) =>
				/needs IMAP/.test(e.message) &&
				/Microsoft Graph Change Notifications/.test(e.description ?? '') &&
				/Microsoft 365 Mail Trigger/.test(e.description ?? ''),
		);
	});
});

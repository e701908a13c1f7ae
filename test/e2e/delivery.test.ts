/**
 * Delivery guarantees in real n8n 2.41.1 (the package installed as a community package), counted:
 * every test lists what each message's executions did and asserts 0 lost and 0 duplicated. It runs
 * n8n's own scheduled polls (a minute apart), a SIGKILL of the main process, re-activations (what a
 * restart, an upgrade and a re-publish do), a failing downstream Code node with the at-least-once
 * option, a UIDVALIDITY change, a server that leaves messages out of its FETCH answers or shows one
 * only after newer ones, and an expired Graph delta. The instant trigger (IMAP IDLE): latency from
 * delivery to execution start, a burst, a failed run retried until it succeeds, and a message shown
 * late with no notice, found by the trigger's own look.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { assertSafeFileName, hostileCorpus } from '../fixtures/hostile';
import { GRAPH_SCOPES, graphDeliver, graphExpireDelta, graphFolder } from '../harness/graph';
import {
	appendMails,
	freshFolder,
	ImapTlsProxy,
	listFolder,
	recreateFolder,
	testImap,
} from '../harness/mail';
import { delegatedCredential, IMAP_SCOPES, signIn, stackInfo } from '../harness/stack';
import {
	actionWorkflowNode,
	everyMinuteFromNow,
	freshUserFolder,
	N8nInstance,
	runData,
	triggerWorkflowNode,
} from './n8n';
import {
	codeNode,
	staggeredCodeNode,
	count,
	countingFor,
	failsFirstAttempt,
	names,
	percentile,
	tally,
} from './counting';

type Json = Record<string, unknown>;

const IMAP_CREDENTIAL = { id: 'M365DeliveryImap', name: 'Alice (IMAP, delivery)' };
const GRAPH_CREDENTIAL = { id: 'M365DeliveryGrph', name: 'Alice (Graph, delivery)' };
const imapRef = { m365MailOAuth2Api: IMAP_CREDENTIAL };
const graphRef = { m365MailOAuth2Api: GRAPH_CREDENTIAL };

let n8n: N8nInstance;

const instantNode = (folder: string, parameters: Json = {}): Json =>
	triggerWorkflowNode(
		'New Mail',
		folder,
		imapRef,
		{ afterEmit: 'markRead', ...parameters },
		'm365MailInstantTrigger',
	);

const instantConnections = {
	'New Mail': { main: [[{ node: 'Process', type: 'main', index: 0 }]] },
};

const {
	processed,
	waitForAll,
	assertNoneLostOrDuplicated,
	instantRuns,
	succeededRuns,
	killMidBurstAndCount,
} = countingFor(() => n8n);

/**
 * A proxy in front of Dovecot (ImapTlsProxy), Alice's credential through it imported into n8n, and an
 * active workflow whose trigger watches a new folder with it.
 */
async function workflowThroughProxy(
	name: string,
	credentialId: string,
	parameters: Json,
	instant = false,
): Promise<{ proxy: ImapTlsProxy; id: string; folder: string }> {
	const proxy = new ImapTlsProxy();
	await proxy.start();
	try {
		const credential = { id: credentialId, name: `Alice (IMAP, ${name})` };
		await n8n.importCredentials([
			{
				...credential,
				type: 'm365MailOAuth2Api',
				data: delegatedCredential(await signIn('alice@example.test', IMAP_SCOPES), {
					customImapPort: proxy.port,
				}),
			},
		]);
		const folder = await freshFolder('e2e-proxy');
		const ref = { m365MailOAuth2Api: credential };
		const id = instant
			? await n8n.createWorkflow(
					`Instant: ${name}`,
					[
						triggerWorkflowNode(
							'New Mail',
							folder,
							ref,
							{ afterEmit: 'markRead', ...parameters },
							'm365MailInstantTrigger',
						),
						codeNode('return { json: $json };'),
					],
					instantConnections,
				)
			: await n8n.createWorkflow(
					`Delivery: ${name}`,
					[triggerWorkflowNode('New Mail', folder, ref, parameters)],
					{},
				);
		await n8n.api('POST', `/workflows/${id}/activate`);
		return { proxy, id, folder };
	} catch (error) {
		await proxy.stop();
		throw error;
	}
}

/** True once the message `subject` in `folder` is read; undefined until then (for waitFor). */
async function readIn(folder: string, subject: string): Promise<true | undefined> {
	const messages = await listFolder(folder);
	return messages.some((m) => m.subject === subject && m.flags.includes('\\Seen'))
		? true
		: undefined;
}

/**
 * The at-least-once workflow: the trigger emits again what is still unread after 3 s (3 attempts),
 * Process fails a message with "fails once" in its subject on its first attempt, and Mark Read
 * marks each message read after Process.
 */
async function atLeastOnceWorkflow(name: string, folder: string): Promise<string> {
	return await n8n.createWorkflow(
		name,
		[
			triggerWorkflowNode('New Mail', folder, imapRef, {
				afterEmit: 'none',
				options: { redeliverAfterMinutes: 0.05, maxAttempts: 3 },
			}),
			failsFirstAttempt('fails once'),
			actionWorkflowNode('Mark Read', 2, imapRef, {
				resource: 'message',
				operation: 'markAsRead',
				messageId: '={{ $json.id }}',
			}),
		],
		{
			'New Mail': { main: [[{ node: 'Process', type: 'main', index: 0 }]] },
			Process: { main: [[{ node: 'Mark Read', type: 'main', index: 0 }]] },
		},
	);
}

/**
 * Each message processed successfully once (a successful execution ran Process and then Mark Read
 * on every item it emitted), none left unread, and those that failed first succeeded at attempt 2.
 */
async function assertProcessedOnceAndRead(
	id: string,
	folder: string,
	expected: string[],
	failedFirst: string[],
): Promise<void> {
	const { lost, duplicated } = count(expected, await processed(id, 'Process', 'success'));
	assert.deepEqual(
		{ lost: lost.length, duplicated: duplicated.length },
		{ lost: 0, duplicated: 0 },
	);
	assert.deepEqual(
		(await listFolder(folder)).filter((m) => !m.flags.includes('\\Seen')).map((m) => m.subject),
		[],
	);
	const retried = (await n8n.executions(id))
		.filter((e) => e.status === 'success')
		.flatMap((e) => runData(e, 'New Mail'))
		.filter((i) => failedFirst.includes(String(i.json.subject)));
	assert.deepEqual(
		retried.map((i) => (i.json.delivery as Json).attempt),
		failedFirst.map(() => 2),
	);
}

describe('delivery guarantees in real n8n 2.41.1, counted', () => {
	const stack = stackInfo();

	before(async () => {
		const userFolder = freshUserFolder('e2e-delivery');
		n8n = new N8nInstance({
			userFolder,
			caCertPath: stack.caCertPath,
			logFile: join(userFolder, 'n8n.log'),
			// The kill test reads when the trigger learned of each run's success and marked it read.
			logLevel: 'debug',
		});
		await n8n.start();
		await n8n.login();
		await n8n.importCredentials([
			{
				...IMAP_CREDENTIAL,
				type: 'm365MailOAuth2Api',
				data: delegatedCredential(await signIn('alice@example.test', IMAP_SCOPES)),
			},
			{
				...GRAPH_CREDENTIAL,
				type: 'm365MailOAuth2Api',
				data: delegatedCredential(await signIn('alice@example.test', GRAPH_SCOPES), {
					access: 'graph',
				}),
			},
		]);
	});

	after(async () => {
		await n8n?.stop();
	});

	it('n8n’s scheduled poll, then SIGKILL of the main process mid-burst and re-activations while mail keeps arriving: 0 lost, 0 duplicated, all marked read', async () => {
		const folder = await freshFolder('e2e-burst');
		const id = await n8n.createWorkflow(
			'Delivery: burst and kill',
			[
				triggerWorkflowNode('New Mail', folder, imapRef, {
					afterEmit: 'markRead',
					maxMessages: 200,
					// n8n's scheduler, every minute, first 15 s from now (not at a random second).
					pollTimes: everyMinuteFromNow(15),
				}),
			],
			{},
		);
		await n8n.api('POST', `/workflows/${id}/activate`);
		const expected: string[] = [];
		const arrive = async (batch: string[]) => {
			expected.push(...batch);
			await appendMails(
				folder,
				batch.map((subject) => ({ subject })),
			);
		};
		// 1. Mail for n8n's own minute poll: the in-memory Workflow's cursor must reach the database.
		await arrive(names('burst', 40));
		await waitForAll(id, 'New Mail', expected, 90_000);
		// 2. More mail, and the main process killed without a chance to save anything.
		await arrive(names('burst', 30, 40));
		await n8n.kill();
		await arrive(names('burst', 30, 70));
		// 3. n8n starts again: the workflow is activated from the database and polls at once.
		await n8n.start();
		await n8n.login();
		await waitForAll(id, 'New Mail', expected, 60_000);
		// 4. Deactivate + activate (a re-publish) twice while mail keeps arriving.
		await arrive(names('after restart', 10));
		await n8n.pollNow(id);
		await arrive(names('after restart', 10, 10));
		await n8n.pollNow(id);
		await waitForAll(id, 'New Mail', expected, 30_000);
		// The last poll also applies the owed "mark as read" of the last emit.
		const seen = await assertNoneLostOrDuplicated(id, expected);
		assert.equal(seen.length, 120);
		const left = await listFolder(folder);
		assert.equal(left.filter((m) => !m.flags.includes('\\Seen')).length, 0);
		await n8n.api('POST', `/workflows/${id}/deactivate`);
	});

	it('at-least-once: a Code node throws on some mails; the trigger emits them again; each is processed successfully exactly once and marked read by the action node', async () => {
		const folder = await freshFolder('e2e-again');
		const id = await atLeastOnceWorkflow('Delivery: at least once', folder);
		await n8n.api('POST', `/workflows/${id}/activate`);
		const good = names('works', 6);
		const bad = names('fails once', 2);
		await appendMails(
			folder,
			good.map((subject) => ({ subject })),
		);
		await n8n.pollNow(id);
		await waitForAll(id, 'Process', good, 30_000);
		await appendMails(
			folder,
			bad.map((subject) => ({ subject })),
		);
		await n8n.pollNow(id);
		await n8n.waitFor('the failed execution', async () =>
			(await n8n.executions(id)).some((e) => e.status === 'error') ? true : undefined,
		);
		// After the delay the trigger emits the unread ones again (attempt 2); the run succeeds.
		await new Promise((r) => setTimeout(r, 3500));
		await n8n.pollNow(id);
		await waitForAll(id, 'Process', [...good, ...bad], 30_000);
		await new Promise((r) => setTimeout(r, 3500));
		await n8n.pollNow(id);
		await new Promise((r) => setTimeout(r, 1500));
		await assertProcessedOnceAndRead(id, folder, [...good, ...bad], bad);
		await n8n.api('POST', `/workflows/${id}/deactivate`);
	});

	it('at-least-once across a folder rebuilt by the server (new UIDVALIDITY): a message whose run failed before the rebuild is emitted again under its new UID, processed successfully once and marked read by the action node; nothing else comes again', async () => {
		const folder = await freshFolder('e2e-again-rebuilt');
		const id = await atLeastOnceWorkflow('Delivery: at least once across a rebuild', folder);
		await n8n.api('POST', `/workflows/${id}/activate`);
		const good = names('works', 3);
		await appendMails(
			folder,
			good.map((subject) => ({ subject })),
		);
		await n8n.pollNow(id);
		await waitForAll(id, 'Process', good, 30_000);
		await appendMails(folder, [{ subject: 'fails once' }]);
		await n8n.pollNow(id);
		await n8n.waitFor('the failed execution', async () =>
			(await n8n.executions(id)).some((e) => e.status === 'error') ? true : undefined,
		);
		// The server rebuilds the folder: the three read, the failed one unread, all under new UIDs.
		await recreateFolder(folder);
		await new Promise((r) => setTimeout(r, 3500));
		await n8n.pollNow(id);
		await waitForAll(id, 'Process', [...good, 'fails once'], 30_000);
		await new Promise((r) => setTimeout(r, 3500));
		await n8n.pollNow(id);
		await new Promise((r) => setTimeout(r, 1500));
		await assertProcessedOnceAndRead(id, folder, [...good, 'fails once'], ['fails once']);
		await n8n.api('POST', `/workflows/${id}/deactivate`);
	});

	it('a UIDVALIDITY change with mail arriving before and after it: the gap is emitted, nothing replayed', async () => {
		const folder = await freshFolder('e2e-uidvalidity');
		const id = await n8n.createWorkflow(
			'Delivery: UIDVALIDITY',
			[triggerWorkflowNode('New Mail', folder, imapRef)],
			{},
		);
		await n8n.api('POST', `/workflows/${id}/activate`);
		const kept = {
			subject: 'before the reset',
			headers: { 'Message-ID': '<e2e-kept@example.test>' },
		};
		await appendMails(folder, [kept]);
		await n8n.pollNow(id);
		await waitForAll(id, 'New Mail', ['before the reset'], 30_000);
		const client = await testImap();
		try {
			await client.mailboxDelete(folder.replace(/^Inbox/, 'INBOX'));
			await client.mailboxCreate(folder.replace(/^Inbox/, 'INBOX'));
		} finally {
			await client.logout();
		}
		await appendMails(folder, [kept, { subject: 'in the gap' }]);
		await n8n.pollNow(id);
		await waitForAll(id, 'New Mail', ['before the reset', 'in the gap'], 30_000);
		await appendMails(folder, [{ subject: 'after the reset' }]);
		await n8n.pollNow(id);
		const expected = ['before the reset', 'in the gap', 'after the reset'];
		await waitForAll(id, 'New Mail', expected, 30_000);
		await assertNoneLostOrDuplicated(id, expected);
		await n8n.api('POST', `/workflows/${id}/deactivate`);
	});

	for (const afterEmit of ['none', 'markRead'] as const) {
		it(`a folder rebuilt by the server (new UIDVALIDITY, another order) in the middle of a drain of two a poll, after emitting "${afterEmit}": each message once${afterEmit === 'markRead' ? ', all read, including those whose mark was owed at the rebuild' : ''}`, async () => {
			const folder = await freshFolder('e2e-rebuilt');
			const id = await n8n.createWorkflow(
				`Delivery: folder rebuilt mid-drain (${afterEmit})`,
				[triggerWorkflowNode('New Mail', folder, imapRef, { maxMessages: 2, afterEmit })],
				{},
			);
			await n8n.api('POST', `/workflows/${id}/activate`);
			const expected = Array.from({ length: 7 }, (_, i) => `rebuilt ${i}`);
			await appendMails(
				folder,
				expected.map((subject) => ({ subject })),
			);
			await n8n.pollNow(id);
			await waitForAll(id, 'New Mail', expected.slice(0, 2), 30_000);
			await n8n.pollNow(id);
			await waitForAll(id, 'New Mail', expected.slice(0, 4), 30_000);
			// The rebuild puts 6, 5 and 4 before the copies of the four emitted. With "mark as read",
			// 0 and 1 are read by then (marked by the second poll) and the marks of 2 and 3 are owed.
			await recreateFolder(folder, true);
			await n8n.pollNow(id);
			await waitForAll(id, 'New Mail', [...expected.slice(0, 4), 'rebuilt 6', 'rebuilt 5'], 30_000);
			await n8n.pollNow(id);
			await waitForAll(id, 'New Mail', expected, 30_000);
			if (afterEmit === 'markRead') {
				await n8n.pollNow(id);
				await n8n.waitFor(
					'every message marked read',
					async () =>
						(await listFolder(folder)).every((m) => m.flags.includes('\\Seen')) || undefined,
				);
			}
			await assertNoneLostOrDuplicated(id, expected);
			assert.equal((await listFolder(folder)).length, expected.length);
			await n8n.api('POST', `/workflows/${id}/deactivate`);
		});
	}

	it('a server that leaves messages out of its FETCH answers: each is read again or emitted with a parseError, 0 lost, 0 duplicated', async () => {
		const { proxy, id, folder } = await workflowThroughProxy(
			'answers left out',
			'M365DeliveryOmit',
			{
				output: 'full',
				maxMessages: 100,
			},
		);
		try {
			const sent = names('omitted', 30);
			await appendMails(
				folder,
				sent.map((subject) => ({ subject })),
			);
			const uids = new Map((await listFolder(folder)).map((m) => [m.subject, m.uid]));
			// Left out of the sizes once, of the download once, and of every answer.
			proxy.omitFetchOf(uids.get(sent[5])!, 1, 0);
			proxy.omitFetchOf(uids.get(sent[15])!, 1, 1);
			const never = uids.get(sent[25])!;
			proxy.omitFetchOf(never, 1000, 0);
			await n8n.pollNow(id);
			const expected = sent.filter((subject) => subject !== sent[25]);
			await waitForAll(id, 'New Mail', expected, 60_000);
			assert.ok(proxy.omitted >= 3, `answers left out: ${proxy.omitted}`);
			const seen = await assertNoneLostOrDuplicated(id, expected);
			const items = (await n8n.executions(id))
				.filter((e) => e.mode === 'trigger')
				.flatMap((e) => runData(e, 'New Mail'));
			const unsent = items.filter((i) => i.json.parseError);
			assert.equal(unsent.length, 1, 'one item says the server did not send it');
			assert.ok(String(unsent[0].json.id).includes(`:${never}:`), String(unsent[0].json.id));
			assert.match(String(unsent[0].json.parseError), /did not send this message/);
			assert.equal(seen.length, 30, 'the 29 sent, and the one item for the message never sent');
			// n8n's log names what the poll worked around.
			assert.match(
				n8n.output(),
				/the IMAP server left \d+ message\(s\) still in .* out of its answers/,
			);
			await n8n.api('POST', `/workflows/${id}/deactivate`);
		} finally {
			await proxy.stop();
		}
	});

	it('a message the server shows only after newer ones were emitted (its UID below the cursor by then) is still emitted, once', async () => {
		const { proxy, id, folder } = await workflowThroughProxy(
			'late arrivals',
			'M365DeliveryLate',
			{},
		);
		try {
			const sent = names('late', 6);
			await appendMails(
				folder,
				sent.map((subject) => ({ subject })),
			);
			const late = (await listFolder(folder)).find((m) => m.subject === sent[2])!.uid;
			proxy.hidden.add(late);
			await n8n.pollNow(id);
			const shown = sent.filter((subject) => subject !== sent[2]);
			await waitForAll(id, 'New Mail', shown, 60_000);
			proxy.hidden.delete(late);
			await n8n.pollNow(id);
			await waitForAll(id, 'New Mail', sent, 60_000);
			const seen = await assertNoneLostOrDuplicated(id, sent);
			assert.equal(seen.length, 6);
			await n8n.api('POST', `/workflows/${id}/deactivate`);
		} finally {
			await proxy.stop();
		}
	});

	it('hostile mail: the whole corpus in one poll, the execution succeeds, every name n8n stores is safe, the next message still comes', async () => {
		const folder = await freshFolder('e2e-hostile');
		const id = await n8n.createWorkflow(
			'Delivery: hostile mail',
			[
				triggerWorkflowNode('New Mail', folder, imapRef, {
					output: 'full',
					downloadAttachments: true,
					maxMessages: 100,
				}),
			],
			{},
		);
		await n8n.api('POST', `/workflows/${id}/activate`);
		const corpus = hostileCorpus();
		await appendMails(
			folder,
			corpus.map((m) => m.raw),
		);
		await n8n.pollNow(id);
		await appendMails(folder, [{ subject: 'plain after the corpus' }]);
		await n8n.pollNow(id);
		const expected = [...corpus.map((m) => m.subject).filter(Boolean), 'plain after the corpus'];
		await n8n.waitFor(
			'the corpus and the message after it',
			async () => {
				const seen = await processed(id, 'New Mail', 'success');
				return seen.length >= corpus.length + 1 ? seen : undefined;
			},
			60_000,
		);
		const executions = (await n8n.executions(id)).filter((e) => e.mode === 'trigger');
		assert.ok(executions.every((e) => e.status === 'success'));
		const items = executions.flatMap((e) => runData(e, 'New Mail'));
		const subjects = items.map((i) => String(i.json.subject));
		for (const subject of expected)
			assert.ok(
				subjects.some((s) => s.startsWith(subject)),
				`missing ${subject}`,
			);
		const problems = items.flatMap((i) =>
			Object.values(i.binary ?? {})
				.map((b) => assertSafeFileName(b.fileName))
				.filter(Boolean),
		);
		assert.deepEqual(problems, []);
		await n8n.api('POST', `/workflows/${id}/deactivate`);
	});

	it('Graph: re-activations while mail arrives and an expired delta: the gap is emitted, nothing replayed', async () => {
		const folder = `Inbox/e2e-delta-${Date.now()}`;
		await graphFolder('alice@example.test', folder);
		const id = await n8n.createWorkflow(
			'Delivery: Graph delta',
			[triggerWorkflowNode('New Mail', folder, graphRef, { protocol: 'graph' })],
			{},
		);
		await n8n.api('POST', `/workflows/${id}/activate`);
		const expected: string[] = [];
		for (const batch of [names('graph', 5), names('graph', 5, 5)]) {
			expected.push(...batch);
			for (const subject of batch) await graphDeliver('alice@example.test', { subject }, folder);
			await n8n.pollNow(id);
		}
		await waitForAll(id, 'New Mail', expected, 30_000);
		await graphExpireDelta();
		expected.push('graph in the gap');
		await graphDeliver('alice@example.test', { subject: 'graph in the gap' }, folder);
		await n8n.pollNow(id);
		await waitForAll(id, 'New Mail', expected, 30_000);
		await assertNoneLostOrDuplicated(id, expected);
		await n8n.api('POST', `/workflows/${id}/deactivate`);
	});

	it('instant trigger: 30 messages at one per second: one execution each within seconds (latency reported), marked read after it succeeded; a burst of 100: 0 lost, 0 duplicated', async () => {
		const folder = await freshFolder('e2e-instant');
		const id = await n8n.createWorkflow(
			'Instant: latency and burst',
			[instantNode(folder, { maxMessages: 50 }), codeNode('return { json: $json };')],
			instantConnections,
		);
		await n8n.api('POST', `/workflows/${id}/activate`);
		const delivered = new Map<string, number>();
		const steady = names('steady', 30);
		for (const subject of steady) {
			delivered.set(subject, Date.now());
			await appendMails(folder, [{ subject }]);
			await new Promise((r) => setTimeout(r, 1000));
		}
		const done = await succeededRuns(id, steady, 60_000);
		const latencies = done.map((r) => r.startedAt - delivered.get(r.subject)!);
		console.log(
			`instant trigger latency over ${latencies.length} messages (delivery -> execution start): p50 ${percentile(latencies, 0.5)} ms, p90 ${percentile(latencies, 0.9)} ms, max ${Math.max(...latencies)} ms`,
		);
		assert.deepEqual(
			tally(
				steady,
				done.map((r) => r.subject),
			),
			{ lost: 0, duplicated: 0 },
		);

		const burst = names('burst', 100);
		await appendMails(
			folder,
			burst.map((subject) => ({ subject })),
		);
		const all = await succeededRuns(id, [...steady, ...burst], 120_000);
		// Settle: the last runs' "mark read" and anything wrongly emitted again would show now.
		await new Promise((r) => setTimeout(r, 3000));
		const seen = (await instantRuns(id)).map((r) => r.subject);
		assert.equal(all.length >= steady.length + burst.length, true);
		assert.deepEqual(tally([...steady, ...burst], seen), { lost: 0, duplicated: 0 });
		const unread = (await listFolder(folder)).filter((m) => !m.flags.includes('\\Seen'));
		assert.deepEqual(
			unread.map((m) => m.subject),
			[],
		);
		await n8n.api('POST', `/workflows/${id}/deactivate`);
	});

	it('instant trigger: a message the server shows only after a newer one was emitted, with no notice when it does, is emitted well before the 5-minute catch-up, once, and read', async () => {
		const { proxy, id, folder } = await workflowThroughProxy(
			'a late message',
			'M365DeliveryLtIn',
			{},
			true,
		);
		const isRead = (subject: string) => readIn(folder, subject);
		try {
			const [first, hidden, after] = names('instant late', 3);
			await appendMails(folder, [{ subject: first }]);
			await n8n.waitFor('the first message read', () => isRead(first), 60_000);
			// The next UID is handed out but not shown (SEARCH and FETCH leave it out); its EXISTS
			// comes at delivery, as the newer message's does, so no notice comes when it is shown.
			const hiddenUid = Math.max(...(await listFolder(folder)).map((m) => m.uid)) + 1;
			proxy.hidden.add(hiddenUid);
			await appendMails(folder, [{ subject: hidden }, { subject: after }]);
			await n8n.waitFor('the newer message read', () => isRead(after), 60_000);
			await new Promise((r) => setTimeout(r, 1000));
			const shown = Date.now();
			proxy.hidden.delete(hiddenUid);
			const done = await succeededRuns(id, [first, hidden, after], 90_000);
			const late = done.find((r) => r.subject === hidden)!;
			console.log(
				`instant trigger: a late message's execution started ${late.startedAt - shown} ms after the server showed it`,
			);
			await n8n.waitFor('the late message read', () => isRead(hidden), 60_000);
			await new Promise((r) => setTimeout(r, 3000));
			const seen = (await instantRuns(id)).map((r) => r.subject);
			assert.deepEqual(tally([first, hidden, after], seen), { lost: 0, duplicated: 0 });
			await n8n.api('POST', `/workflows/${id}/deactivate`);
		} finally {
			await proxy.stop();
		}
	});

	it('instant trigger: every open IMAP session goes silent and stays open (a NAT, firewall or proxy that lost them), while the trigger waits and again while a look waits on its FETCH: with its default check every minute the trigger signs in again, the mail of each silence and after it runs once each and is read, and deactivating with silent sessions ends', async () => {
		const { proxy, id, folder } = await workflowThroughProxy(
			'a silent connection',
			'M365DeliverySiIn',
			{},
			true,
		);
		const isRead = (subject: string) => readIn(folder, subject);
		try {
			const [first, gap, after, mid] = names('instant silent', 4);
			await appendMails(folder, [{ subject: first }]);
			await n8n.waitFor('the first message read', () => isRead(first), 60_000);
			await proxy.untilQuiet(1000);
			const connections = proxy.connections;
			const silentAt = Date.now();
			const stalled = proxy.stall();
			assert.ok(stalled >= 1, 'the IDLE session went silent');
			await appendMails(folder, [{ subject: gap }]);
			// Within the check a minute, its 10 s for the NOOP, the new session's look (which asks the
			// silent session of the looks for a NOOP first, 10 s): under 1 min 30 s; the 5-minute
			// catch-up would be later.
			const done = await succeededRuns(id, [first, gap], 150_000);
			const late = done.find((r) => r.subject === gap)!;
			console.log(
				`instant trigger: mail that came while ${stalled} sessions were silent ran ${late.startedAt - silentAt} ms after they went silent`,
			);
			assert.equal(proxy.stalledClosed, stalled, 'every silent session was closed');
			assert.ok(proxy.connections > connections, 'signed in again');
			await appendMails(folder, [{ subject: after }]);
			await succeededRuns(id, [first, gap, after], 60_000);
			await n8n.waitFor('all read', async () => (await isRead(gap)) && (await isRead(after)));
			// Every session goes silent once the look for the next message sends its FETCH: the look
			// waits on a command. It is given up with the IDLE session at its next check (a minute and
			// 10 s at most), not at its 5-minute socket timeout.
			await proxy.untilQuiet(1000);
			proxy.stallOn('UID FETCH', 1, true);
			const midAt = Date.now();
			await appendMails(folder, [{ subject: mid }]);
			const midRun = (await succeededRuns(id, [first, gap, after, mid], 150_000)).find(
				(r) => r.subject === mid,
			)!;
			console.log(
				`instant trigger: mail whose FETCH went silent with every session ran ${midRun.startedAt - midAt} ms after it came`,
			);
			await n8n.waitFor(
				'the silent sessions closed',
				async () => (proxy.silentOpen === 0 ? true : undefined),
				30_000,
			);
			await n8n.waitFor('all read', async () => await isRead(mid));
			await new Promise((r) => setTimeout(r, 3000));
			const seen = (await instantRuns(id)).map((r) => r.subject);
			assert.deepEqual(tally([first, gap, after, mid], seen), { lost: 0, duplicated: 0 });
			// Deactivating while the sessions are silent: n8n's call returns (closeFunction ends).
			await proxy.untilQuiet(1000);
			assert.ok(proxy.stall() >= 1, 'the sessions went silent again');
			const deactivating = Date.now();
			const deactivated = n8n.api('POST', `/workflows/${id}/deactivate`).then(() => 'deactivated');
			const hung = new Promise((r) => setTimeout(() => r('still deactivating'), 60_000).unref());
			assert.equal(await Promise.race([deactivated, hung]), 'deactivated');
			console.log(`deactivated with silent sessions in ${Date.now() - deactivating} ms`);
		} finally {
			await proxy.stop();
		}
	});

	it('instant trigger: n8n killed (SIGKILL) mid-burst and started again: none lost, all read; a message runs twice only if its first run succeeded just before the kill and was not yet marked read, or n8n had accepted its execution before the kill and ran it at the start (at least once)', async () => {
		const folder = await freshFolder('e2e-instant-kill');
		const id = await n8n.createWorkflow(
			'Instant: n8n killed mid-burst',
			[
				instantNode(folder, {
					maxMessages: 50,
					options: { redeliverAfterMinutes: 0.1, maxAttempts: 5 },
				}),
				staggeredCodeNode(),
			],
			instantConnections,
		);
		await n8n.api('POST', `/workflows/${id}/activate`);
		await new Promise((r) => setTimeout(r, 1500));
		// Killed once some runs succeeded while others are still running. A second successful run only
		// for a message whose first run had succeeded right before the kill, in the moment between n8n's
		// report of the success and the trigger's mark as read, or that n8n ran again at its start.
		await killMidBurstAndCount(id, {
			label: 'instant trigger, n8n killed mid-burst',
			prefixes: ['killed', 'after the kill'],
			deliver: (subjects) =>
				appendMails(
					folder,
					subjects.map((subject) => ({ subject })),
				),
			allRead: () =>
				n8n.waitFor('every message marked read', async () =>
					(await listFolder(folder)).every((m) => m.flags.includes('\\Seen')) ? true : undefined,
				),
		});
		await n8n.api('POST', `/workflows/${id}/deactivate`);
	});

	it('instant trigger, Messages per Execution 4: 8 unread messages at activation start two executions of 4; the one that fails is emitted again as one execution of the same 4; each read only after its execution succeeded', async () => {
		const folder = await freshFolder('e2e-instant-batch');
		const subjects = names('batch', 8);
		await appendMails(
			folder,
			subjects.map((subject) => ({ subject })),
		);
		const id = await n8n.createWorkflow(
			'Instant: Messages per Execution',
			[
				instantNode(folder, {
					startFrom: 'existing',
					options: { messagesPerRun: 4, redeliverAfterMinutes: 0.1, maxAttempts: 3 },
				}),
				failsFirstAttempt('batch 005'),
			],
			instantConnections,
		);
		await n8n.api('POST', `/workflows/${id}/activate`);
		const failed = await n8n.waitFor('the failed execution', async () => {
			const runs = (await instantRuns(id)).filter((r) => r.status === 'error');
			return runs.length ? runs : undefined;
		});
		// Unread after the failure, unless the second execution already succeeded.
		const retried = (await instantRuns(id)).some(
			(r) => r.subject === 'batch 005' && r.status === 'success',
		);
		if (!retried) {
			const unread = (await listFolder(folder)).filter((m) => !m.flags.includes('\\Seen'));
			for (const { subject } of failed)
				assert.ok(
					unread.some((m) => m.subject === subject),
					`${subject} is unread`,
				);
		}
		await succeededRuns(id, subjects, 60_000);
		await n8n.waitFor('every message marked read', async () =>
			(await listFolder(folder)).every((m) => m.flags.includes('\\Seen')) ? true : undefined,
		);
		// Longer than "Emit Again After a Failed Run": anything wrongly emitted again shows now.
		await new Promise((r) => setTimeout(r, 8000));
		const byExecution = new Map<string, string[]>();
		for (const run of await instantRuns(id)) {
			const key = `${run.executionId}|${run.status}`;
			byExecution.set(key, [...(byExecution.get(key) ?? []), run.subject]);
		}
		const shape = [...byExecution].map(
			([key, list]) => `${key.split('|')[1]}: ${[...list].sort().join(', ')}`,
		);
		assert.deepEqual(shape.sort(), [
			'error: batch 004, batch 005, batch 006, batch 007',
			'success: batch 000, batch 001, batch 002, batch 003',
			'success: batch 004, batch 005, batch 006, batch 007',
		]);
		await n8n.api('POST', `/workflows/${id}/deactivate`);
	});

	it('instant trigger: a downstream failure leaves the message unread; it is emitted again and marked read only after its run succeeded: processed successfully exactly once', async () => {
		const folder = await freshFolder('e2e-instant-fail');
		const id = await n8n.createWorkflow(
			'Instant: failure then success',
			[
				instantNode(folder, { options: { redeliverAfterMinutes: 0.1, maxAttempts: 3 } }),
				failsFirstAttempt('fails once'),
			],
			instantConnections,
		);
		await n8n.api('POST', `/workflows/${id}/activate`);
		const good = names('works', 4);
		const bad = names('fails once', 2);
		await appendMails(
			folder,
			[...good, ...bad].map((subject) => ({ subject })),
		);
		// The failed runs: their messages are still unread after the failure.
		await n8n.waitFor('the failed runs', async () => {
			const failed = (await instantRuns(id)).filter((r) => r.status === 'error');
			return failed.length >= bad.length ? failed : undefined;
		});
		const afterFailure = await listFolder(folder);
		for (const subject of bad) {
			const entry = afterFailure.find((m) => m.subject === subject)!;
			// Unread unless its second, successful run already happened.
			const second = (await instantRuns(id)).some(
				(r) => r.subject === subject && r.status === 'success',
			);
			if (!second) assert.equal(entry.flags.includes('\\Seen'), false, subject);
		}
		const done = await succeededRuns(id, [...good, ...bad], 60_000);
		await new Promise((r) => setTimeout(r, 8000));
		const all = await instantRuns(id);
		const successes = all.filter((r) => r.status === 'success').map((r) => r.subject);
		assert.deepEqual(tally([...good, ...bad], successes), { lost: 0, duplicated: 0 });
		assert.equal(done.length, good.length + bad.length);
		// Each "fails once" message ran twice (failed, then succeeded); the others once.
		for (const subject of bad) {
			assert.deepEqual(
				all
					.filter((r) => r.subject === subject)
					.map((r) => r.status)
					.sort(),
				['error', 'success'],
			);
		}
		const unread = (await listFolder(folder)).filter((m) => !m.flags.includes('\\Seen'));
		assert.deepEqual(
			unread.map((m) => m.subject),
			[],
		);
		await n8n.api('POST', `/workflows/${id}/deactivate`);
	});
	it('instant trigger: a run that waits in a Wait node counts as success (marked read while it waits); a run cancelled in n8n leaves the message unread, it is emitted again and marked read after that run succeeds', async () => {
		const waitFolder = await freshFolder('e2e-instant-wait');
		const waiting = await n8n.createWorkflow(
			'Instant: Wait node',
			[
				instantNode(waitFolder),
				{
					id: 'wait-node',
					name: 'Process',
					type: 'n8n-nodes-base.wait',
					typeVersion: 1.1,
					position: [250, 0],
					parameters: { amount: 10, unit: 'minutes' },
				},
			],
			instantConnections,
		);
		await n8n.api('POST', `/workflows/${waiting}/activate`);
		await appendMails(waitFolder, [{ subject: 'waits' }]);
		const parked = await n8n.waitFor('a waiting execution', async () => {
			const list = (await n8n.executions(waiting)).filter((e) => e.status === 'waiting');
			return list.length ? list : undefined;
		});
		assert.equal(parked.length, 1);
		await n8n.waitFor('the waiting run’s message marked read', async () =>
			(await listFolder(waitFolder)).every((m) => m.flags.includes('\\Seen')) ? true : undefined,
		);
		await n8n.api('POST', `/workflows/${waiting}/deactivate`);

		const cancelFolder = await freshFolder('e2e-instant-cancel');
		const cancelled = await n8n.createWorkflow(
			'Instant: cancelled run',
			[
				instantNode(cancelFolder, { options: { redeliverAfterMinutes: 0.1, maxAttempts: 3 } }),
				codeNode(
					'if ($json.delivery.attempt === 1) await new Promise((r) => setTimeout(r, 120000));\nreturn { json: $json };',
				),
			],
			instantConnections,
		);
		await n8n.api('POST', `/workflows/${cancelled}/activate`);
		await appendMails(cancelFolder, [{ subject: 'cancelled once' }]);
		// n8n's public API lists running executions only when asked for them.
		const running = await n8n.waitFor('the running execution', async () => {
			const list = await n8n.api(
				'GET',
				`/executions?workflowId=${cancelled}&status=running&limit=10`,
			);
			return (list.data as Json[])[0];
		});
		await n8n.api('POST', `/executions/${running.id}/stop`);
		await n8n.waitFor('the cancelled run', async () => {
			const list = await n8n.allExecutions(cancelled);
			return list.some((e) => e.id === running.id && e.status === 'canceled') ? true : undefined;
		});
		assert.deepEqual(
			(await listFolder(cancelFolder)).map((m) => m.flags.includes('\\Seen')),
			[false],
		);
		const done = await succeededRuns(cancelled, ['cancelled once'], 60_000);
		assert.equal(done.length, 1);
		await n8n.waitFor('marked read after the run that succeeded', async () =>
			(await listFolder(cancelFolder)).every((m) => m.flags.includes('\\Seen')) ? true : undefined,
		);
		const statuses = (await n8n.allExecutions(cancelled)).map((e) => String(e.status)).sort();
		assert.deepEqual(statuses, ['canceled', 'success']);
		await n8n.api('POST', `/workflows/${cancelled}/deactivate`);
	});
});

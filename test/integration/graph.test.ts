import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';

import type { IDataObject, INodeParameters } from 'n8n-workflow';

import { MailServiceError } from '../../nodes/M365Mail/transport/auth/errors';
import { AppOnlyTokenProvider } from '../../nodes/M365Mail/transport/auth/tokens';
import { GraphClient } from '../../nodes/M365Mail/transport/graph/client';
import { retryAfterMs } from '../../nodes/M365Mail/transport/graph/errors';
import { resolveCloud, type CloudSettings } from '../../nodes/M365Mail/transport/auth/clouds';
import {
	GRAPH_SCOPES,
	GRAPH_SHARED_SCOPES,
	graphCounts,
	graphDeliver,
	graphExpireDelta,
	graphFaultsServed,
	graphFolder,
	graphInject,
	graphList,
	graphMoveByRule,
	graphRaw,
	graphRecreateFolder,
	graphReplayDelta,
	graphRequests,
	graphReverseTies,
	graphVanishAfter,
} from '../harness/graph';
import {
	authenticatedRequests,
	CredentialStore,
	durablePoll,
	type HarnessNode,
	type DurableDatabase,
	pollTrigger,
	restartN8n,
	runActionNode,
	searchFolderList,
	triggerNode,
} from '../harness/n8n';
import {
	appOnlyCredential,
	customCloudFields,
	delegatedCredential,
	ageRefreshToken,
	expiredCopy,
	signIn,
	stackInfo,
	tokenRequestCounts,
} from '../harness/stack';
import { APPS, TENANT_ID } from '../stack/directory';

const store = new CredentialStore();
const ALICE = 'alice@example.test';

function trigger(folder: string, parameters: INodeParameters = {}, credential = 'alice') {
	return triggerNode(folder, parameters, credential, 'graph');
}

async function action(parameters: INodeParameters, credential = 'alice') {
	return (
		await runActionNode(
			{
				parameters: {
					authentication: credential === 'app' ? 'appOnly' : 'delegated',
					protocol: 'graph',
					mailbox: '',
					...parameters,
				},
				credentials:
					credential === 'app' ? { m365MailAppOnlyApi: 'app' } : { m365MailOAuth2Api: credential },
			},
			store,
		)
	)[0];
}

const subjects = (items: Array<{ json: IDataObject }>) => items.map((i) => i.json.subject);

async function freshGraphFolder(prefix: string, mailbox = ALICE): Promise<string> {
	const path = `Inbox/${prefix}-${randomUUID().slice(0, 8)}`;
	await graphFolder(mailbox, path);
	return path;
}

before(async () => {
	store.set('alice', delegatedCredential(await signIn(ALICE, GRAPH_SCOPES), { access: 'graph' }));
	store.set(
		'alice-shared',
		delegatedCredential(await signIn(ALICE, GRAPH_SHARED_SCOPES), {
			access: 'graph',
			sharedMailboxes: true,
		}),
	);
	store.set('app', appOnlyCredential());
});

/**
 * The user deletes the watched folder in Outlook (it moves to Deleted Items, its mail keeps its ids),
 * makes a new one under the same path, and moves or copies the emitted mail into it. Returns the
 * ids the mail has there.
 */
async function rebuildWith(
	folder: string,
	emitted: Array<{ json: IDataObject }>,
	how: 'move' | 'copy',
): Promise<string[]> {
	const path = (value: string) => ({ __rl: true, mode: 'path', value });
	await action({ resource: 'folder', operation: 'delete', folder: path(folder) });
	await action({ resource: 'folder', operation: 'create', path: folder });
	const ids: string[] = [];
	for (const item of emitted) {
		const [done] = await action({
			resource: 'message',
			operation: how,
			messageId: String(item.json.id),
			destination: path(folder),
		});
		ids.push(String(done.json.id));
	}
	return ids;
}

/** Counted, not assumed: each expected subject emitted, and none twice. */
function assertNoneLostOrDuplicated(expected: string[], got: string[]): void {
	assert.deepEqual(
		{
			lost: expected.filter((s) => !got.includes(s)),
			duplicated: got.length - new Set(got).size,
		},
		{ lost: [], duplicated: 0 },
	);
}

describe('trigger over Graph: delta per folder, each message once', () => {
	it('first poll starts from now; new mail comes next; an idle poll is one request', async () => {
		const folder = await freshGraphFolder('g-now');
		await graphDeliver(ALICE, { subject: 'old' }, folder);
		const state: IDataObject = {};
		assert.deepEqual(await pollTrigger(trigger(folder), store, state), []);
		await graphDeliver(ALICE, { subject: 'g1' }, folder);
		await graphDeliver(ALICE, { subject: 'g2' }, folder);
		const items = await pollTrigger(trigger(folder), store, state);
		assert.deepEqual(subjects(items), ['g1', 'g2']);
		assert.equal(items[0].json.folder, folder);
		assert.equal(items[0].json.mailbox, ALICE);
		assert.match(String(items[0].json.id), /^AAMk/);
		const before = await graphRequests();
		assert.deepEqual(await pollTrigger(trigger(folder), store, state), []);
		assert.equal((await graphRequests()) - before, 1, 'one delta request when nothing changed');
	});

	it('under n8n’s durable cursors, which drop the activation poll’s starting point: the first scheduled poll emits what arrived since the activation, not older mail', async () => {
		const folder = await freshGraphFolder('g-durable');
		const tenMinutesAgo = new Date(Date.now() - 10 * 60_000).toISOString();
		await graphDeliver(ALICE, { subject: 'before' }, folder, tenMinutesAgo);
		const database: DurableDatabase = { global: {} };
		assert.deepEqual(await durablePoll(trigger(folder), store, database, true), []);
		await graphDeliver(ALICE, { subject: 'after 1' }, folder);
		await graphDeliver(ALICE, { subject: 'after 2' }, folder);
		const items = await durablePoll(trigger(folder), store, database, false);
		assert.deepEqual(subjects(items), ['after 1', 'after 2']);
		assert.deepEqual(await durablePoll(trigger(folder), store, database, false), []);
		await graphDeliver(ALICE, { subject: 'after 3' }, folder);
		assert.deepEqual(subjects(await durablePoll(trigger(folder), store, database, false)), [
			'after 3',
		]);
	});

	it('a message moved in by a rule (old received time) and a burst within one second are all emitted once', async () => {
		const folder = await freshGraphFolder('g-rule');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		const old = await graphDeliver(
			ALICE,
			{ subject: 'moved in by a rule' },
			'inbox',
			'2020-01-01T08:00:00Z',
		);
		const second = '2026-11-22T10:00:00Z';
		for (let i = 0; i < 5; i++)
			await graphDeliver(ALICE, { subject: `same second ${i}` }, folder, second);
		await graphMoveByRule(ALICE, old, folder);
		const items = await pollTrigger(trigger(folder), store, state);
		// Oldest received first, whatever order the delta pages had.
		assert.deepEqual(
			subjects(items),
			['moved in by a rule'].concat([0, 1, 2, 3, 4].map((i) => `same second ${i}`)),
		);
		assert.deepEqual(await pollTrigger(trigger(folder), store, state), []);
	});

	it('read mail is skipped; max messages per poll leaves the rest for the next poll', async () => {
		const folder = await freshGraphFolder('g-max');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		const read = await graphDeliver(ALICE, { subject: 'already read' }, folder);
		await action({ resource: 'message', operation: 'markAsRead', messageId: read });
		for (let i = 0; i < 5; i++) await graphDeliver(ALICE, { subject: `m${i}` }, folder);
		const polls = [];
		for (let i = 0; i < 4; i++)
			polls.push(subjects(await pollTrigger(trigger(folder, { maxMessages: 2 }), store, state)));
		assert.deepEqual(polls.flat(), ['m0', 'm1', 'm2', 'm3', 'm4']);
		assert.ok(polls.every((p) => p.length <= 2));
	});

	it('expired delta state: a new baseline that emits the mail of the gap, without replaying older mail', async () => {
		const folder = await freshGraphFolder('g-expired');
		const state: IDataObject = {};
		await graphDeliver(
			ALICE,
			{ subject: 'older than the last poll' },
			folder,
			'2026-01-01T08:00:00Z',
		);
		await pollTrigger(trigger(folder), store, state);
		await graphDeliver(ALICE, { subject: 'emitted before' }, folder);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder), store, state)), [
			'emitted before',
		]);
		await graphExpireDelta();
		await graphDeliver(ALICE, { subject: 'arrived while the state expired' }, folder);
		const recovered = await pollTrigger(trigger(folder), store, state);
		assert.deepEqual(subjects(recovered), ['arrived while the state expired']);
		assert.equal((recovered[0].json.delivery as IDataObject).recovered, 'deltaReset');
		await graphDeliver(ALICE, { subject: 'after the new baseline' }, folder);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder), store, state)), [
			'after the new baseline',
		]);
	});

	it('a 429 storm: the poll waits for Retry-After, retries, and emits each message once', async () => {
		const folder = await freshGraphFolder('g-429');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		await graphDeliver(ALICE, { subject: 'through the storm' }, folder);
		await graphInject(429, 3, '1');
		const started = Date.now();
		assert.deepEqual(subjects(await pollTrigger(trigger(folder), store, state)), [
			'through the storm',
		]);
		assert.ok(Date.now() - started >= 2500, 'waited as Retry-After asked');
		assert.deepEqual(await pollTrigger(trigger(folder), store, state), []);
	});

	it('a message deleted between the delta page and its download is skipped; the others are emitted once', async () => {
		const folder = await freshGraphFolder('g-vanish');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder, { output: 'raw' }), store, state);
		await graphDeliver(ALICE, { subject: 'stays' }, folder);
		const doomed = await graphDeliver(ALICE, { subject: 'deleted by the user' }, folder);
		await graphDeliver(ALICE, { subject: 'stays too' }, folder);
		await graphVanishAfter('GET .*/messages/delta', ALICE, doomed);
		assert.deepEqual(
			subjects(await pollTrigger(trigger(folder, { output: 'raw' }), store, state)),
			['stays', 'stays too'],
		);
		assert.deepEqual(await pollTrigger(trigger(folder, { output: 'raw' }), store, state), []);
	});

	it('"mark as read" after emitting: a message deleted right after its download is still emitted; the next poll marks the other', async () => {
		const folder = await freshGraphFolder('g-vanish-read');
		const params = { output: 'raw', afterEmit: 'markRead' };
		const state: IDataObject = {};
		await pollTrigger(trigger(folder, params), store, state);
		const doomed = await graphDeliver(ALICE, { subject: 'read, then deleted' }, folder);
		await graphDeliver(ALICE, { subject: 'read and marked' }, folder);
		await graphVanishAfter(`GET .*/messages/${doomed}/\\$value`, ALICE, doomed);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder, params), store, state)), [
			'read, then deleted',
			'read and marked',
		]);
		// Marked by the next poll, once n8n has the items; the deleted one is left alone.
		assert.deepEqual(await pollTrigger(trigger(folder, params), store, state), []);
		const left = await graphList(ALICE, folder);
		assert.deepEqual(
			left.map((m) => [m.subject, m.isRead]),
			[['read and marked', true]],
		);
		assert.deepEqual(await pollTrigger(trigger(folder, params), store, state), []);
	});

	it('a failed poll leaves the delta link where it was', async () => {
		const folder = await freshGraphFolder('g-fail');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		await graphDeliver(ALICE, { subject: 'kept for later' }, folder);
		const before = JSON.stringify(state);
		// As many failures as the client's attempts: this poll fails, the next one is served.
		await graphInject(503, 5, '0');
		assert.deepEqual(await pollTrigger(trigger(folder), store, state), []);
		assert.equal(JSON.stringify(state), before);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder), store, state)), [
			'kept for later',
		]);
	});

	it('a poll whose requests fail past the retries at each of them in turn (the delta page, the bodies, the owed "mark as read"): 0 lost, 0 duplicated, and only emitted mail is marked read', async () => {
		const folder = await freshGraphFolder('g-fail-each');
		const state: IDataObject = {};
		const node = trigger(folder, { afterEmit: 'markRead' });
		await pollTrigger(node, store, state);
		const sent: string[] = [];
		const seen: string[] = [];
		const deliver = async (round: number) => {
			for (let i = 0; i < 6; i++) {
				const subject = `round ${round} #${i}`;
				await graphDeliver(ALICE, { subject, text: `${subject} `.repeat(200) }, folder);
				sent.push(subject);
			}
		};
		/** Only mail a poll emitted is read, whatever failed (the marks are owed to the next poll). */
		const readOnlyEmitted = async () => {
			for (const m of await graphList(ALICE, folder))
				if (m.isRead) assert.ok(seen.includes(m.subject), `${m.subject} read before emitted`);
		};
		const poll = async () => {
			seen.push(...(subjects(await pollTrigger(node, store, state)) as string[]));
			await readOnlyEmitted();
		};
		// A round without failures: how many requests a poll makes (each inside a $batch on its own,
		// the $batch itself never fails), with the "mark as read" owed from the poll before.
		await deliver(0);
		await poll();
		await deliver(1);
		const total = (counts: Record<string, number>) =>
			Object.entries(counts)
				.filter(([kind]) => !['FAILED', 'DROPPED', 'bodies', 'POST /$batch'].includes(kind))
				.reduce((sum, [, n]) => sum + n, 0);
		const before = total(await graphCounts());
		await poll();
		const requests = total(await graphCounts()) - before;
		assert.ok(requests >= 3, `a poll made ${requests} requests`);
		for (let k = 0; k < requests; k++) {
			await deliver(k + 2);
			// Five in a row: past the client's retries for any one request.
			const failedBefore = (await graphFaultsServed()).failed;
			await graphInject(503, 5, '0', undefined, k);
			for (let polls = 0; polls < 3; polls++) await poll();
			const failed = (await graphFaultsServed()).failed - failedBefore;
			assert.equal(failed, 5, `the failures after ${k} requests were all answered`);
		}
		for (let polls = 0; polls < 2; polls++) await poll();
		assertNoneLostOrDuplicated(sent, seen);
		assert.equal(seen.length, sent.length);
		assert.ok(
			(await graphList(ALICE, folder)).every((m) => m.isRead),
			'every emitted message is marked read in the end',
		);
	});

	it('an expired token is refreshed by n8n through its authenticated request helper; the rotated refresh token is persisted; nothing is lost', async () => {
		const folder = await freshGraphFolder('g-token');
		store.set(
			'expiring',
			delegatedCredential(await signIn(ALICE, GRAPH_SCOPES), { access: 'graph' }),
		);
		const state: IDataObject = {};
		await pollTrigger(trigger(folder, {}, 'expiring'), store, state);
		const stored = store.get('expiring');
		const before = stored.oauthTokenData as IDataObject;
		// Expired at Graph while n8n's stored expiry still says fresh: only Graph's 401 can tell.
		const expired = await expiredCopy(before.access_token as string);
		store.set('expiring', { ...stored, oauthTokenData: { ...before, access_token: expired } });
		const writes = store.oauthWrites.length;
		authenticatedRequests.length = 0;
		await graphDeliver(ALICE, { subject: 'after expiry' }, folder);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder, {}, 'expiring'), store, state)), [
			'after expiry',
		]);
		// n8n refreshed once, persisted the rotated refresh token, and sent the request again.
		assert.equal(store.oauthWrites.length, writes + 1);
		const after = store.get('expiring').oauthTokenData as IDataObject;
		assert.notEqual(after.refresh_token, before.refresh_token);
		assert.notEqual(after.access_token, expired);
		assert.ok(authenticatedRequests.length >= 1);
		for (const request of authenticatedRequests) {
			// Reads, one by one or twenty at a time in a JSON batch.
			assert.ok(
				request.startsWith(`GET ${stackInfo().graphUrl}/v1.0/`) ||
					request === `POST ${stackInfo().graphUrl}/v1.0/$batch`,
				request,
			);
		}
		// The next poll uses the persisted token: no further refresh.
		assert.deepEqual(
			subjects(await pollTrigger(trigger(folder, {}, 'expiring'), store, state)),
			[],
		);
		assert.equal(store.oauthWrites.length, writes + 1);
	});

	it('a revoked refresh token behind an expired access token asks to reconnect; the delta link stays', async () => {
		const folder = await freshGraphFolder('g-revoked');
		const signedIn = await signIn(ALICE, GRAPH_SCOPES);
		store.set('revoked', delegatedCredential(signedIn, { access: 'graph' }));
		const state: IDataObject = {};
		await pollTrigger(trigger(folder, {}, 'revoked'), store, state);
		const kept = JSON.stringify(state);
		const stored = store.get('revoked');
		const tokenData = stored.oauthTokenData as IDataObject;
		const expired = await expiredCopy(tokenData.access_token as string);
		store.set('revoked', { ...stored, oauthTokenData: { ...tokenData, access_token: expired } });
		await ageRefreshToken(tokenData.refresh_token as string, 'revoke');
		await graphDeliver(ALICE, { subject: 'waits for the reconnect' }, folder);
		await assert.rejects(
			pollTrigger(trigger(folder, {}, 'revoked'), store, state),
			(e: Error & { description?: string }) =>
				/reconnect/i.test(`${e.message} ${e.description ?? ''}`) &&
				!`${e.message} ${e.description ?? ''}`.includes(String(tokenData.refresh_token)),
		);
		assert.equal(JSON.stringify(state), kept);
		// Reconnected (a new sign-in): the message that waited comes now.
		store.set(
			'revoked',
			delegatedCredential(await signIn(ALICE, GRAPH_SCOPES), { access: 'graph' }),
		);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder, {}, 'revoked'), store, state)), [
			'waits for the reconnect',
		]);
	});

	it('an expired token whose refresh is refused (wrong client secret): the AADSTS code and its fix, one refresh attempt, no retries', async () => {
		const folder = await freshGraphFolder('g-badsecret');
		const signedIn = await signIn(ALICE, GRAPH_SCOPES);
		const expired = await expiredCopy(signedIn.access_token as string);
		store.set(
			'badsecret',
			delegatedCredential(
				{ ...signedIn, access_token: expired },
				{ access: 'graph', clientSecret: 'not-the-secret' },
			),
		);
		const before = (await tokenRequestCounts()).token_requests;
		await assert.rejects(
			pollTrigger(trigger(folder, {}, 'badsecret'), store, {}),
			(e: Error & { description?: string }) =>
				/AADSTS7000215/.test(`${e.message} ${e.description ?? ''}`) &&
				/secret/i.test(`${e.message} ${e.description ?? ''}`) &&
				!`${e.message} ${e.description ?? ''}`.includes('not-the-secret'),
		);
		// n8n asked the token endpoint once; the refusal was not taken for a network error and retried.
		assert.equal((await tokenRequestCounts()).token_requests - before, 1);
	});

	it('Fetch Test Event returns the newest message; raw output is $value; attachments come as binary', async () => {
		const folder = await freshGraphFolder('g-manual');
		await graphDeliver(ALICE, { subject: 'older' }, folder, '2026-11-22T09:00:00Z');
		await graphDeliver(
			ALICE,
			{ subject: 'newest', attachments: [{ filename: 'a.csv', content: 'x,y\n' }] },
			folder,
			'2026-11-22T09:05:00Z',
		);
		const state: IDataObject = {};
		const [sample] = await pollTrigger(
			trigger(folder, { downloadAttachments: true }),
			store,
			state,
			'manual',
		);
		assert.equal(sample.json.subject, 'newest');
		assert.equal(Buffer.from(sample.binary!.attachment_0.data, 'base64').toString(), 'x,y\n');
		assert.deepEqual(state, {});
		const [raw] = await pollTrigger(trigger(folder, { output: 'raw' }), store, {}, 'manual');
		assert.match(Buffer.from(raw.binary!.raw.data, 'base64').toString(), /Subject: newest/);
	});

	it('app-only over Graph watches a shared mailbox', async () => {
		const folder = await freshGraphFolder('g-app', 'shared@example.test');
		const params = { mailbox: 'shared@example.test' };
		const state: IDataObject = {};
		await pollTrigger(trigger(folder, params, 'app'), store, state);
		await graphDeliver('shared@example.test', { subject: 'to the shared mailbox' }, folder);
		const items = await pollTrigger(trigger(folder, params, 'app'), store, state);
		assert.deepEqual(subjects(items), ['to the shared mailbox']);
		assert.equal(items[0].json.mailbox, 'shared@example.test');
	});
});

describe('trigger over Graph: delivery rules of the engine', () => {
	it('delta replays (the same changes sent again) and a message moved out and back in are not emitted twice', async () => {
		const folder = await freshGraphFolder('g-replay');
		const other = await freshGraphFolder('g-replay-other');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		const first = await graphDeliver(ALICE, { subject: 'r1' }, folder);
		await graphDeliver(ALICE, { subject: 'r2' }, folder);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder), store, state)), ['r1', 'r2']);
		await graphReplayDelta(1);
		await graphDeliver(ALICE, { subject: 'r3' }, folder);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder), store, state)), ['r3']);
		await graphMoveByRule(ALICE, first, other);
		await graphMoveByRule(ALICE, first, folder);
		assert.deepEqual(await pollTrigger(trigger(folder), store, state), []);
		restartN8n(state);
		await graphReplayDelta(1);
		assert.deepEqual(await pollTrigger(trigger(folder), store, state), []);
	});

	it('a stored delta link naming another host never gets the token: a new baseline recovers the gap instead', async () => {
		const { createServer } = await import('node:http');
		const seen: string[] = [];
		const foreign = createServer((req, res) => {
			seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
			res.end('{}');
		});
		await new Promise<void>((r) => foreign.listen(0, '127.0.0.1', r));
		try {
			const folder = await freshGraphFolder('g-foreign');
			const state: IDataObject = {};
			await pollTrigger(trigger(folder), store, state);
			// Static data imported from elsewhere (or a switched credential): its link names another host.
			const port = (foreign.address() as { port: number }).port;
			const folders = state.folders as Record<string, { cursor: { link: string } }>;
			for (const entry of Object.values(folders))
				entry.cursor.link = entry.cursor.link.replace(
					/^https:\/\/[^/]+/,
					`http://127.0.0.1:${port}`,
				);
			restartN8n(state);
			await graphDeliver(ALICE, { subject: 'after the switch' }, folder);
			const items = await pollTrigger(trigger(folder), store, state);
			assert.deepEqual(subjects(items), ['after the switch']);
			assert.deepEqual(seen, [], 'nothing was sent to the other host');
		} finally {
			foreign.close();
		}
	});

	/** One poll, with what it emitted (subjects) and the emulator's counts it added, by kind. */
	async function countedPoll(node: HarnessNode, state: IDataObject) {
		const before = await graphCounts();
		const got = subjects(await pollTrigger(node, store, state)).map(String);
		const after = await graphCounts();
		return { got, delta: (key: string) => (after[key] ?? 0) - (before[key] ?? 0) };
	}

	/**
	 * A trigger (200 messages a poll) past its first poll, and 145 unread messages in its folder,
	 * received a second apart an hour ago (Graph writes received times to the second; a burst: the
	 * tests below), subjects `${prefix}0` to `${prefix}144`.
	 */
	async function backlogOf145(prefix: string) {
		const folder = await freshGraphFolder(`g-${prefix}`);
		const state: IDataObject = {};
		const node = trigger(folder, { maxMessages: 200 });
		await pollTrigger(node, store, state);
		const t0 = Date.now() - 3_600_000;
		for (let i = 0; i < 145; i++) {
			const at = new Date(t0 + i * 1000).toISOString();
			await graphDeliver(
				ALICE,
				{ subject: `${prefix}${i}`, text: `body of ${prefix}${i}` },
				folder,
				at,
			);
		}
		return { node, state };
	}

	it('bodies are read only for emitted messages: the first twenty in one JSON batch, the rest listed by received time in one request once the same window listed by id shows it holds them; one delta page for the poll', async () => {
		const { node, state } = await backlogOf145('b');
		const before = await graphCounts();
		const items = await pollTrigger(node, store, state);
		const after = await graphCounts();
		assert.deepEqual(
			items.map((i) => [i.json.subject, String(i.json.text).trim()]),
			Array.from({ length: 145 }, (_, i) => [`b${i}`, `body of b${i}`]),
		);
		const delta = (key: string) => (after[key] ?? 0) - (before[key] ?? 0);
		assert.equal(delta('POST /$batch'), 1, 'the first twenty: one batch');
		assert.equal(delta('batched GET /messages/{id}'), 20);
		assert.equal(
			delta('GET /mailFolders/{id}/messages'),
			2,
			'125 more: the window listed by id, then with its bodies',
		);
		assert.equal(delta('GET /mailFolders/{id}/messages/delta'), 1, 'a page as large as the poll');
		assert.equal(delta('GET /messages/{id}'), 0, 'no message read one by one');
		assert.equal(delta('bodies'), 145, 'each body once, none for nothing');
		assert.deepEqual(await pollTrigger(node, store, state), []);
	});

	for (const [others, listed] of [
		[5, true],
		[20, false],
	] as const) {
		it(`a window where ${others} of 150 are mail emitted before (still unread) is ${listed ? '' : 'not '}listed with its bodies: more than a tenth of its first page read for nothing is too much; 0 lost, 0 duplicated`, async () => {
			const folder = await freshGraphFolder(`g-window-${others}`);
			const state: IDataObject = {};
			const node = trigger(folder, { maxMessages: 200 });
			await pollTrigger(node, store, state);
			const t0 = Date.parse('2026-06-02T08:00:00Z');
			const at = (ms: number) => new Date(t0 + ms).toISOString();
			// Emitted before, left unread ("After emitting: nothing"), received among the new mail
			// past its first twenty (those are read in a batch, not listed).
			for (let j = 0; j < others; j++)
				await graphDeliver(ALICE, { subject: `old${j}` }, folder, at((21 + j * 6) * 1000 + 500));
			assert.equal((await pollTrigger(node, store, state)).length, others);
			for (let i = 0; i < 150; i++)
				await graphDeliver(ALICE, { subject: `new${i}` }, folder, at(i * 1000));
			const { got, delta } = await countedPoll(node, state);
			const expected = Array.from({ length: 150 }, (_, i) => `new${i}`);
			assert.deepEqual(got, expected, 'each once, oldest first');
			assert.equal(delta('GET /mailFolders/{id}/messages'), listed ? 2 : 1);
			if (listed) assert.ok(delta('bodies') <= 150 + 13, `${delta('bodies')} bodies read`);
			else assert.equal(delta('bodies'), 150, 'a body for each emitted message');
		});
	}

	for (const [before, probes] of [
		[300, 1],
		[1100, 2],
	] as const) {
		it(`a burst in one second behind ${before} unread messages of the same second (not this poll's): the listing skips them, found in ${probes} page(s) of ids; the poll's 130 past its first twenty listed in one request; no body read for nothing`, async () => {
			const folder = await freshGraphFolder(`g-burst-${before}`);
			const state: IDataObject = {};
			const node = trigger(folder, { maxMessages: 200 });
			const second = '2026-06-04T08:00:00Z';
			// Unread before the trigger's first poll, which starts from new mail: never this poll's.
			for (let j = 0; j < before; j++)
				await graphDeliver(ALICE, { subject: `old${j}` }, folder, second);
			assert.deepEqual(await pollTrigger(node, store, state), []);
			for (let i = 0; i < 150; i++)
				await graphDeliver(ALICE, { subject: `new${i}` }, folder, second);
			const { got, delta } = await countedPoll(node, state);
			assert.deepEqual(
				got,
				Array.from({ length: 150 }, (_, i) => `new${i}`),
				'each once, in order',
			);
			assert.equal(delta('POST /$batch'), 1, 'the first twenty: one batch, and no other');
			assert.equal(delta('batched GET /messages/{id}'), 20);
			assert.equal(
				delta('GET /mailFolders/{id}/messages'),
				probes + 1,
				'the window listed by id, then the run with its bodies',
			);
			assert.equal(delta('bodies'), 150, 'a body for each emitted message, none for nothing');
			assert.deepEqual(await pollTrigger(node, store, state), []);
		});
	}

	it("where Graph orders a second's messages otherwise for a listing than for the ids before it, the page holds other mail: its messages and the rest of the poll's are read by id, 0 lost, 0 duplicated", async () => {
		const folder = await freshGraphFolder('g-burst-reordered');
		const state: IDataObject = {};
		// A memory budget that takes more than one window for the poll's 150.
		const node = trigger(folder, { maxMessages: 200, options: { pollBudgetMb: 1 } });
		const second = '2026-06-05T08:00:00Z';
		for (let j = 0; j < 300; j++) await graphDeliver(ALICE, { subject: `old${j}` }, folder, second);
		assert.deepEqual(await pollTrigger(node, store, state), []);
		for (let i = 0; i < 150; i++) {
			const text = `${String(i).padStart(3, '0')} `.repeat(i < 20 ? 5000 : 1000);
			await graphDeliver(ALICE, { subject: `new${i}`, text }, folder, second);
		}
		// The first listing with bodies (not the one by id before it) comes in the other order.
		await graphReverseTies(1, 'GET .*/messages\\?.*\\$select=id,subject');
		const { got, delta } = await countedPoll(node, state);
		const expected = Array.from({ length: 150 }, (_, i) => `new${i}`);
		assertNoneLostOrDuplicated(expected, got);
		assert.deepEqual(got, expected, 'oldest first');
		assert.equal(delta('GET /mailFolders/{id}/messages'), 2, 'one window: its ids, its listing');
		assert.equal(delta('batched GET /messages/{id}'), 150, 'the twenty, then the 130 by id');
		// The cost of the other order: the first window's bodies, read for nothing.
		const wasted = delta('bodies') - 150;
		assert.ok(wasted > 0 && wasted < 130, `${wasted} bodies read for nothing`);
		assert.deepEqual(await pollTrigger(node, store, state), []);
	});

	it('every window is listed by id before its bodies: in a poll whose memory budget takes two windows, the second, a fifth of it mail emitted before, is read by id; no body read for nothing', async () => {
		const folder = await freshGraphFolder('g-window-second');
		const state: IDataObject = {};
		const node = trigger(folder, { maxMessages: 500, options: { pollBudgetMb: 1 } });
		await pollTrigger(node, store, state);
		const t0 = Date.parse('2026-06-03T08:00:00Z');
		const at = (ms: number) => new Date(t0 + ms).toISOString();
		// Emitted before and left unread, received among the new mail of the second window.
		for (let j = 0; j < 20; j++)
			await graphDeliver(ALICE, { subject: `old${j}` }, folder, at((62 + j * 3) * 1000 + 500));
		assert.equal((await pollTrigger(node, store, state)).length, 20);
		// The first twenty weigh more than the rest: the budget's first estimate is a window that
		// leaves room for a second one in the same poll.
		for (let i = 0; i < 150; i++) {
			const text = `${String(i).padStart(3, '0')} `.repeat(i < 20 ? 5000 : 1000);
			await graphDeliver(ALICE, { subject: `new${i}`, text }, folder, at(i * 1000));
		}
		const { got, delta } = await countedPoll(node, state);
		assert.deepEqual(
			got,
			Array.from({ length: 150 }, (_, i) => `new${i}`),
			'each once, in order',
		);
		assert.ok(delta('GET /mailFolders/{id}/messages') >= 3, 'two windows: two listings by id');
		assert.equal(delta('bodies'), got.length, 'a body for each emitted message');
	});

	it('a listing Graph does not answer (504) is not sent again: its messages are read by id, 0 lost, 0 duplicated', async () => {
		const { node, state } = await backlogOf145('t');
		// The listing with bodies (not the one by id before it) times out at Graph's gateway.
		await graphInject(504, 1, undefined, 'GET .*/messages\\?.*\\$select=id,subject');
		const before = await graphCounts();
		const items = await pollTrigger(node, store, state);
		const after = await graphCounts();
		const delta = (key: string) => (after[key] ?? 0) - (before[key] ?? 0);
		const expected = Array.from({ length: 145 }, (_, i) => `t${i}`);
		const got = subjects(items).map(String);
		assertNoneLostOrDuplicated(expected, got);
		assert.deepEqual(got, expected, 'oldest first');
		assert.equal(delta('GET /mailFolders/{id}/messages'), 2, 'the probe and the failed listing');
		assert.equal(delta('batched GET /messages/{id}'), 145, 'the twenty, then the 125 by id');
		assert.equal(delta('bodies'), 145);
		assert.deepEqual(await pollTrigger(node, store, state), []);
	});

	it('a listing takes only the bodies that fit in what is left of the memory budget: no more bodies read than emitted', async () => {
		const folder = await freshGraphFolder('g-window-budget');
		const state: IDataObject = {};
		const node = trigger(folder, { maxMessages: 500, options: { pollBudgetMb: 1 } });
		await pollTrigger(node, store, state);
		// Received a second apart, as a busy mailbox receives mail.
		const t0 = Date.now() - 3_600_000;
		for (let i = 0; i < 150; i++) {
			const at = new Date(t0 + i * 1000).toISOString();
			await graphDeliver(
				ALICE,
				{ subject: `m${i}`, text: `${String(i).padStart(3, '0')} `.repeat(2000) },
				folder,
				at,
			);
		}
		const emitted: string[] = [];
		for (let poll = 0; poll < 10 && emitted.length < 150; poll++) {
			const before = await graphCounts();
			const items = await pollTrigger(node, store, state);
			const after = await graphCounts();
			const delta = (key: string) => (after[key] ?? 0) - (before[key] ?? 0);
			const read = delta('bodies');
			assert.ok(items.length < 150, 'the budget splits the backlog');
			assert.ok(read <= items.length + 1, `${read} bodies read for ${items.length} emitted`);
			if (poll === 0)
				assert.ok(delta('GET /mailFolders/{id}/messages') > 0, 'the first poll lists');
			emitted.push(...subjects(items).map(String));
		}
		const expected = Array.from({ length: 150 }, (_, i) => `m${i}`);
		assertNoneLostOrDuplicated(expected, emitted);
	});

	it("with a filter of the user's, bodies are read by id in JSON batches: a listing would carry the mail the filter leaves out", async () => {
		const folder = await freshGraphFolder('g-batch-filter');
		const state: IDataObject = {};
		const node = trigger(folder, { maxMessages: 200, filters: { from: 'carol@' } });
		await pollTrigger(node, store, state);
		for (let i = 0; i < 45; i++) {
			await graphDeliver(ALICE, { subject: `c${i}`, from: 'carol@example.test' }, folder);
			await graphDeliver(ALICE, { subject: `d${i}`, from: 'dave@example.test' }, folder);
		}
		const before = await graphCounts();
		const items = await pollTrigger(node, store, state);
		const after = await graphCounts();
		assert.deepEqual(
			subjects(items),
			Array.from({ length: 45 }, (_, i) => `c${i}`),
		);
		const delta = (key: string) => (after[key] ?? 0) - (before[key] ?? 0);
		assert.equal(delta('GET /mailFolders/{id}/messages'), 0, 'no listing');
		assert.equal(delta('POST /$batch'), 3, '45 messages: three batches of at most 20');
		assert.equal(delta('batched GET /messages/{id}'), 45, 'only the emitted ones');
		assert.equal(delta('bodies'), 45);
	});

	it('a window that holds mostly mail emitted before is not listed with its bodies (its ids show it), and its messages are read by id; a message deleted after its delta page is skipped: 0 lost, 0 duplicated', async () => {
		const folder = await freshGraphFolder('g-window-sparse');
		const state: IDataObject = {};
		// "After emitting: nothing": what was emitted stays unread, and so in a listing of unread mail.
		const node = trigger(folder, { maxMessages: 200 });
		await pollTrigger(node, store, state);
		const t0 = Date.parse('2026-06-01T08:00:00Z');
		const at = (ms: number) => new Date(t0 + ms).toISOString();
		for (let i = 0; i < 180; i++)
			await graphDeliver(ALICE, { subject: `old${i}` }, folder, at(i * 1000));
		assert.equal((await pollTrigger(node, store, state)).length, 180);
		// New mail received between the old, one new to three old, as Graph's received times allow.
		const fresh: string[] = [];
		for (let i = 0; i < 60; i++)
			fresh.push(await graphDeliver(ALICE, { subject: `new${i}` }, folder, at(i * 3000 + 500)));
		await graphVanishAfter('GET .*/messages/delta', ALICE, fresh[50]);
		const before = await graphCounts();
		const items = await pollTrigger(node, store, state);
		const after = await graphCounts();
		const expected = Array.from({ length: 60 }, (_, i) => `new${i}`).filter((s) => s !== 'new50');
		const got = subjects(items).map(String);
		assertNoneLostOrDuplicated(expected, got);
		assert.deepEqual(got, expected, 'oldest first');
		const delta = (key: string) => (after[key] ?? 0) - (before[key] ?? 0);
		assert.equal(delta('GET /mailFolders/{id}/messages'), 1, 'the window listed by id only');
		assert.equal(delta('bodies'), 59, 'a body for each emitted message, none for nothing');
		// The first twenty, then the other forty by id (the deleted one among them).
		assert.equal(delta('batched GET /messages/{id}'), 60);
		assert.deepEqual(await pollTrigger(node, store, state), []);
	});

	it('"mark as read" after emitting goes twenty messages per request (JSON batching), none one by one', async () => {
		const folder = await freshGraphFolder('g-batch-read');
		const state: IDataObject = {};
		const node = trigger(folder, { maxMessages: 100, afterEmit: 'markRead' });
		await pollTrigger(node, store, state);
		for (let i = 0; i < 45; i++) await graphDeliver(ALICE, { subject: `r${i}` }, folder);
		assert.equal((await pollTrigger(node, store, state)).length, 45);
		const before = await graphCounts();
		// The next poll marks them, once n8n has the items.
		assert.deepEqual(await pollTrigger(node, store, state), []);
		const after = await graphCounts();
		const delta = (key: string) => (after[key] ?? 0) - (before[key] ?? 0);
		assert.equal(delta('PATCH /messages/{id}'), 0, 'no message marked one by one');
		assert.equal(delta('batched PATCH /messages/{id}'), 45);
		assert.ok(delta('POST /$batch') >= 3, 'three batches of at most 20');
		assert.deepEqual(
			(await graphList(ALICE, folder)).filter((m) => !m.isRead).map((m) => m.subject),
			[],
		);
	});

	it('a folder deleted and created again under the same path: found by its path again, its new mail emitted', async () => {
		const folder = await freshGraphFolder('g-recreate');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		await graphDeliver(ALICE, { subject: 'before' }, folder);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder), store, state)), ['before']);
		await graphRecreateFolder(ALICE, folder);
		await graphDeliver(ALICE, { subject: 'in the new folder' }, folder);
		const items = await pollTrigger(trigger(folder), store, state);
		assert.deepEqual(subjects(items), ['in the new folder']);
		assert.equal((items[0].json.delivery as IDataObject).recovered, 'folderRecreated');
		await graphDeliver(ALICE, { subject: 'later' }, folder);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder), store, state)), ['later']);
	});

	it('a delta round longer than a poll (here after the folder was created again), while "move" takes each poll’s emitted mail out of the folder before the next page: no message skipped, none twice', async () => {
		const folder = await freshGraphFolder('g-paged-move');
		const archive = await freshGraphFolder('g-paged-move-archive');
		const params = {
			maxMessages: 3,
			afterEmit: 'move',
			moveTo: { __rl: true, mode: 'path', value: archive },
		};
		const state: IDataObject = {};
		await pollTrigger(trigger(folder, params), store, state);
		await graphDeliver(ALICE, { subject: 'before' }, folder);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder, params), store, state)), [
			'before',
		]);
		await graphRecreateFolder(ALICE, folder);
		const sent = Array.from({ length: 9 }, (_, i) => `paged ${i}`);
		for (const subject of sent) await graphDeliver(ALICE, { subject }, folder);
		const seen: string[] = [];
		for (let poll = 0; poll < 5; poll++)
			seen.push(
				...(subjects(await pollTrigger(trigger(folder, params), store, state)) as string[]),
			);
		// Three a poll: the round's next page is asked for after the three before it left the folder.
		assertNoneLostOrDuplicated(sent, seen);
		assert.deepEqual(seen, sent);
		// 'before' went with the deleted folder before its owed move.
		assert.deepEqual((await graphList(ALICE, archive)).map((m) => m.subject).sort(), sent);
	});

	it('a folder deleted in Outlook (it moves to Deleted Items, its id still answers) and created again under the same path, its mail moved back: the next folder check (every 10 minutes) finds the new folder, mail received there since the last check is emitted, none twice; the owed "mark as read" reaches the moved mail (Graph’s ids survive moves)', async () => {
		const folder = await freshGraphFolder('g-moved-back');
		const state: IDataObject = {};
		const node = trigger(folder, { afterEmit: 'markRead' });
		await pollTrigger(node, store, state);
		await graphDeliver(ALICE, { subject: 'a' }, folder);
		await graphDeliver(ALICE, { subject: 'b' }, folder);
		const emitted = await pollTrigger(node, store, state);
		assert.deepEqual(subjects(emitted), ['a', 'b']);
		// The mark is owed (applied by the next poll) when the user deletes the folder, makes a new one
		// under the same path and moves the mail back into it.
		const ids = await rebuildWith(folder, emitted, 'move');
		assert.deepEqual(
			ids,
			emitted.map((i) => i.json.id),
			'immutable ids',
		);
		// Until the folder is checked again, the trigger follows the old folder: nothing new there.
		assert.deepEqual(await pollTrigger(node, store, state), []);
		// Mail came to the new folder ten minutes ago; the last check was twenty minutes ago (as n8n
		// saved it; n8n restarts).
		const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000).toISOString();
		await graphDeliver(ALICE, { subject: 'c' }, folder, minutesAgo(10));
		for (const entry of Object.values(state.folders as Record<string, { cursor: IDataObject }>))
			entry.cursor.checkedAt = minutesAgo(20);
		restartN8n(state);
		const items = await pollTrigger(node, store, state);
		assert.deepEqual(subjects(items), ['c']);
		assert.equal((items[0].json.delivery as IDataObject).recovered, 'folderRecreated');
		assert.deepEqual(await pollTrigger(node, store, state), []);
		assert.deepEqual(
			(await graphList(ALICE, folder))
				.map((m) => `${m.subject} ${m.isRead ? 'read' : 'unread'}`)
				.sort(),
			['a read', 'b read', 'c read'],
		);
	});

	for (const afterEmit of ['markRead', 'move'] as const) {
		it(`a folder created again under the same path, the emitted mail copied into it (new ids): the owed "${afterEmit === 'markRead' ? 'mark as read' : 'move'}" reaches the copies, found by Message-ID (one with a quote, a plus and an ampersand in it), and none is emitted again`, async () => {
			const folder = await freshGraphFolder(`g-copied-${afterEmit}`);
			const archive = await freshGraphFolder(`g-copied-to-${afterEmit}`);
			const state: IDataObject = {};
			const node = trigger(folder, {
				afterEmit,
				...(afterEmit === 'move' ? { moveTo: { __rl: true, mode: 'path', value: archive } } : {}),
			});
			await pollTrigger(node, store, state);
			await graphDeliver(ALICE, { subject: 'a' }, folder);
			const odd = `<it's+a&b#c-${randomUUID().slice(0, 8)}@example.test>`;
			await graphDeliver(ALICE, { subject: 'b', headers: { 'Message-ID': odd } }, folder);
			const emitted = await pollTrigger(node, store, state);
			assert.deepEqual(subjects(emitted), ['a', 'b']);
			assert.equal(emitted[1].json.messageId, odd);
			const before = await graphCounts();
			const copies = await rebuildWith(folder, emitted, 'copy');
			assert.equal(new Set([...copies, ...emitted.map((i) => i.json.id)]).size, 4, 'new ids');
			// The next poll applies the owed action; the trigger still follows the old folder's delta.
			assert.deepEqual(await pollTrigger(node, store, state), []);
			const lookups = (await graphCounts())['batched GET /mailFolders/{id}/messages'] ?? 0;
			const here = (await graphList(ALICE, folder)).map((m) => `${m.subject} ${m.isRead}`);
			const moved = (await graphList(ALICE, archive)).map((m) => m.id);
			if (afterEmit === 'markRead') {
				assert.deepEqual(here.sort(), ['a true', 'b true']);
			} else {
				assert.deepEqual(here, []);
				assert.deepEqual(moved.sort(), [...copies].sort());
			}
			const lookedUp = lookups - (before['batched GET /mailFolders/{id}/messages'] ?? 0);
			assert.equal(lookedUp, 2, 'one lookup per message');
			// The folder check finds the new folder: the copies are not emitted as new mail.
			for (const entry of Object.values(state.folders as Record<string, { cursor: IDataObject }>))
				entry.cursor.checkedAt = new Date(Date.now() - 20 * 60_000).toISOString();
			restartN8n(state);
			await graphDeliver(ALICE, { subject: 'c' }, folder);
			assert.deepEqual(subjects(await pollTrigger(node, store, state)), ['c']);
		});
	}

	it('a Message-ID too long to look up is not looked up, and a lookup Graph refuses (400) leaves its message as it is: the owed "mark as read" does not fail the poll; both copies stay unread', async () => {
		const folder = await freshGraphFolder('g-copied-refused');
		const state: IDataObject = {};
		const node = trigger(folder, { afterEmit: 'markRead' });
		await pollTrigger(node, store, state);
		const long = `<${'x'.repeat(300)}@example.test>`;
		await graphDeliver(ALICE, { subject: 'long', headers: { 'Message-ID': long } }, folder);
		await graphDeliver(ALICE, { subject: 'refused' }, folder);
		const emitted = await pollTrigger(node, store, state);
		assert.deepEqual(subjects(emitted), ['long', 'refused']);
		assert.equal(emitted[0].json.messageId, long);
		await rebuildWith(folder, emitted, 'copy');
		await graphInject(400, 1, undefined, 'GET .*/messages\\?.*internetMessageId');
		const lookups = async () =>
			(await graphCounts())['batched GET /mailFolders/{id}/messages'] ?? 0;
		const before = await lookups();
		assert.deepEqual(await pollTrigger(node, store, state), []);
		assert.equal((await lookups()) - before, 1, 'only the Message-ID that can be looked up');
		assert.deepEqual(
			(await graphList(ALICE, folder)).map((m) => `${m.subject} ${m.isRead}`).sort(),
			['long false', 'refused false'],
		);
	});

	it('without a folder created again, mail with the Message-ID of a message emitted from the same folder is not looked up: the owed "mark as read" leaves a second delivery of it alone', async () => {
		const folder = await freshGraphFolder('g-same-id');
		const state: IDataObject = {};
		const node = trigger(folder, { afterEmit: 'markRead' });
		await pollTrigger(node, store, state);
		const first = await graphDeliver(ALICE, { subject: 'twice' }, folder);
		assert.deepEqual(subjects(await pollTrigger(node, store, state)), ['twice']);
		const second = await graphDeliver(ALICE, await graphRaw(ALICE, first), folder);
		const before = await graphCounts();
		await pollTrigger(node, store, state);
		const after = await graphCounts();
		const read = new Map((await graphList(ALICE, folder)).map((m) => [m.id, m.isRead]));
		assert.deepEqual([read.get(first), read.get(second)], [true, false]);
		const lookups = (c: Record<string, number>) => c['batched GET /mailFolders/{id}/messages'] ?? 0;
		assert.equal(lookups(after) - lookups(before), 0, 'no lookup by Message-ID');
	});

	it('a watched folder deleted in Outlook and not created again: the folder check fails the poll with an error that names the folder and the fix, instead of watching Deleted Items', async () => {
		const folder = await freshGraphFolder('g-deleted');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		await action({
			resource: 'folder',
			operation: 'delete',
			folder: { __rl: true, mode: 'path', value: folder },
		});
		for (const entry of Object.values(state.folders as Record<string, { cursor: IDataObject }>))
			entry.cursor.checkedAt = new Date(Date.now() - 11 * 60_000).toISOString();
		restartN8n(state);
		await assert.rejects(
			pollTrigger(trigger(folder), store, state),
			(error: Error & { description?: string }) => {
				assert.match(error.message, new RegExp(folder));
				assert.ok(error.description, 'the error names a fix');
				return true;
			},
		);
	});

	it('the size limit applies over Graph too (Exchange’s PidTagMessageSize), and the poll goes on', async () => {
		const folder = await freshGraphFolder('g-size');
		const state: IDataObject = {};
		const node = trigger(folder, { options: { maxSizeMb: 0.1 } });
		await pollTrigger(node, store, state);
		await graphDeliver(ALICE, { subject: 'small' }, folder);
		await graphDeliver(ALICE, { subject: 'large', text: 'x'.repeat(200 * 1024) }, folder);
		await graphDeliver(ALICE, { subject: 'small too' }, folder);
		assert.deepEqual(subjects(await pollTrigger(node, store, state)), ['small', 'small too']);
		assert.deepEqual(await pollTrigger(node, store, state), []);
	});

	it('a restart after emitting does not emit again; "mark as read" owed at the restart is applied', async () => {
		const folder = await freshGraphFolder('g-restart');
		const state: IDataObject = {};
		const node = trigger(folder, { afterEmit: 'markRead' });
		await pollTrigger(node, store, state);
		await graphDeliver(ALICE, { subject: 'once' }, folder);
		assert.deepEqual(subjects(await pollTrigger(node, store, state)), ['once']);
		assert.deepEqual(
			(await graphList(ALICE, folder)).map((m) => m.isRead),
			[false],
		);
		restartN8n(state);
		assert.deepEqual(await pollTrigger(node, store, state), []);
		assert.deepEqual(
			(await graphList(ALICE, folder)).map((m) => m.isRead),
			[true],
		);
	});

	it('at-least-once over Graph: still unread after the delay, emitted again with attempt 2', async () => {
		const folder = await freshGraphFolder('g-again');
		const state: IDataObject = {};
		const node = trigger(folder, { options: { redeliverAfterMinutes: 0.01, maxAttempts: 2 } });
		await pollTrigger(node, store, state);
		const done = await graphDeliver(ALICE, { subject: 'done' }, folder);
		await graphDeliver(ALICE, { subject: 'not done' }, folder);
		assert.deepEqual(subjects(await pollTrigger(node, store, state)), ['done', 'not done']);
		await action({ resource: 'message', operation: 'markAsRead', messageId: done });
		await new Promise((r) => setTimeout(r, 700));
		const again = await pollTrigger(node, store, state);
		assert.deepEqual(subjects(again), ['not done']);
		assert.equal((again[0].json.delivery as IDataObject).attempt, 2);
	});

	it('at-least-once over Graph, the folder created again and the message copied into it (a new id): emitted again under the new id with attempt 2, once, and not as new mail', async () => {
		const folder = await freshGraphFolder('g-again-copied');
		const state: IDataObject = {};
		const node = trigger(folder, { options: { redeliverAfterMinutes: 0.01, maxAttempts: 3 } });
		await pollTrigger(node, store, state);
		await graphDeliver(ALICE, { subject: 'not done' }, folder);
		const emitted = await pollTrigger(node, store, state);
		assert.deepEqual(subjects(emitted), ['not done']);
		const [copy] = await rebuildWith(folder, emitted, 'copy');
		await new Promise((r) => setTimeout(r, 700));
		const again = await pollTrigger(node, store, state);
		assert.deepEqual(subjects(again), ['not done']);
		assert.equal(again[0].json.id, copy);
		assert.equal((again[0].json.delivery as IDataObject).attempt, 2);
		// Marked read by the workflow this time: nothing more, also once the folder check finds the new folder.
		await action({ resource: 'message', operation: 'markAsRead', messageId: copy });
		for (const entry of Object.values(state.folders as Record<string, { cursor: IDataObject }>))
			entry.cursor.checkedAt = new Date(Date.now() - 20 * 60_000).toISOString();
		restartN8n(state);
		await new Promise((r) => setTimeout(r, 700));
		assert.deepEqual(await pollTrigger(node, store, state), []);
	});
});

describe('action node over Graph', () => {
	it('get, flag, mark read and move by the trigger’s id; the id survives the move', async () => {
		const folder = await freshGraphFolder('g-ops');
		const target = await freshGraphFolder('g-target');
		const id = await graphDeliver(ALICE, { subject: 'operate on me', text: 'body text' }, folder);
		const [got] = await action({
			resource: 'message',
			operation: 'get',
			messageId: id,
			output: 'simple',
		});
		assert.equal(got.json.subject, 'operate on me');
		assert.equal(got.json.text, 'body text');
		const [flagged] = await action({ resource: 'message', operation: 'flag', messageId: id });
		assert.equal(flagged.json.isFlagged, true);
		const [read] = await action({ resource: 'message', operation: 'markAsRead', messageId: id });
		assert.equal(read.json.isRead, true);
		const [moved] = await action({
			resource: 'message',
			operation: 'move',
			messageId: id,
			destination: { __rl: true, mode: 'path', value: target },
		});
		assert.equal(moved.json.id, id, 'immutable id');
		assert.equal(moved.json.folder, target);
		const [again] = await action({ resource: 'message', operation: 'get', messageId: id });
		assert.equal(again.json.folder, target);
		const [copied] = await action({
			resource: 'message',
			operation: 'copy',
			messageId: id,
			destination: { __rl: true, mode: 'path', value: folder },
		});
		assert.notEqual(copied.json.id, id);
		await action({
			resource: 'message',
			operation: 'delete',
			messageId: String(copied.json.id),
			permanent: true,
		});
		assert.deepEqual(await graphList(ALICE, folder), []);
	});

	it('get many: newest first, unread only, limit', async () => {
		const folder = await freshGraphFolder('g-list');
		await graphDeliver(ALICE, { subject: 'a' }, folder, '2026-11-22T08:00:00Z');
		await graphDeliver(ALICE, { subject: 'b' }, folder, '2026-11-22T08:01:00Z');
		const read = await graphDeliver(ALICE, { subject: 'c' }, folder, '2026-11-22T08:02:00Z');
		await action({ resource: 'message', operation: 'markAsRead', messageId: read });
		const base = {
			resource: 'message',
			operation: 'getAll',
			folder: { __rl: true, mode: 'path', value: folder },
		};
		assert.deepEqual(subjects(await action({ ...base, returnAll: true })), ['c', 'b', 'a']);
		assert.deepEqual(
			subjects(await action({ ...base, returnAll: true, filters: { unreadOnly: true } })),
			['b', 'a'],
		);
		assert.deepEqual(subjects(await action({ ...base, returnAll: false, limit: 1 })), ['c']);
	});

	it('send over Graph (the same composed MIME as SMTP); the recipient has it', async () => {
		const subject = `Graph send ${Date.now()}`;
		const [sent] = await runActionNode(
			{
				parameters: {
					authentication: 'delegated',
					mailbox: '',
					resource: 'message',
					operation: 'send',
					to: 'bob@example.test',
					subject,
					text: 'via Graph',
					options: { attachments: 'file' },
				},
				credentials: { m365MailOAuth2Api: 'alice' },
			},
			store,
			[
				{
					json: {},
					binary: {
						file: {
							data: Buffer.from('hello').toString('base64'),
							mimeType: 'text/plain',
							fileName: 'hello.txt',
						},
					},
				},
			],
		).then((o) => o[0]);
		assert.equal(sent.json.from, ALICE);
		const inbox = await graphList('bob@example.test', 'inbox');
		assert.ok(inbox.some((m) => m.subject === subject));
		assert.ok((await graphList(ALICE, 'sentitems')).some((m) => m.subject === subject));
	});

	it('reply to all and forward over Graph: threaded, quoted, with the original attachments', async () => {
		const subject = `Graph question ${Date.now()}`;
		const id = await graphDeliver(ALICE, {
			subject,
			from: 'Bob <bob@example.test>',
			to: 'alice@example.test, carol@example.test',
			text: 'Can you check?',
			attachments: [{ filename: 'terms.txt', content: 'terms' }],
		});
		const [reply] = await action({
			resource: 'message',
			operation: 'reply',
			messageId: id,
			replyAll: true,
			text: 'Checked.',
		});
		assert.deepEqual(reply.json.to, ['bob@example.test']);
		assert.deepEqual(reply.json.cc, ['carol@example.test']);
		assert.match(String(reply.json.inReplyTo), /^<.+>$/);
		assert.ok(
			(await graphList('bob@example.test', 'inbox')).some((m) => m.subject === `Re: ${subject}`),
		);
		assert.ok(
			(await graphList('carol@example.test', 'inbox')).some((m) => m.subject === `Re: ${subject}`),
		);
		await action({
			resource: 'message',
			operation: 'forward',
			messageId: id,
			to: 'bob@example.test',
			text: 'FYI',
		});
		const forwarded = (await graphList('bob@example.test', 'inbox')).find(
			(m) => m.subject === `Fw: ${subject}`,
		) as { hasAttachments?: boolean } | undefined;
		assert.equal(forwarded?.hasAttachments, true);
	});

	it('folders: nested paths listed, created with their parents', async () => {
		const name = `G-Customers-${Date.now()}`;
		const [created] = await action({
			resource: 'folder',
			operation: 'create',
			path: `Inbox/${name}/ACME`,
		});
		assert.equal(created.json.created, true);
		const paths = (await action({ resource: 'folder', operation: 'getAll', returnAll: true })).map(
			(i) => i.json.path,
		);
		assert.ok(paths.includes('Inbox'));
		assert.ok(paths.includes(`Inbox/${name}/ACME`));
		const wellKnown = (
			await action({ resource: 'folder', operation: 'getAll', returnAll: true })
		).find((i) => i.json.path === 'Sent Items');
		assert.equal(wellKnown?.json.wellKnownName, 'sentitems');
	});

	it('the folder picker lists nested paths through n8n’s authenticated helper, and filters them', async () => {
		const name = `G-Picker-${Date.now()}`;
		await action({ resource: 'folder', operation: 'create', path: `Inbox/${name}/Deep` });
		const spec = {
			type: 'm365MailTrigger' as const,
			parameters: { authentication: 'delegated', mailbox: '' },
			credentials: { m365MailOAuth2Api: 'alice' },
		};
		authenticatedRequests.length = 0;
		const all = await searchFolderList(spec, store);
		assert.ok(all.some((f) => f.value === 'Inbox'));
		assert.ok(all.some((f) => f.value === `Inbox/${name}/Deep` && f.name === f.value));
		assert.ok(authenticatedRequests.length >= 1);
		const filtered = await searchFolderList(spec, store, name.toLowerCase());
		assert.deepEqual(
			filtered.map((f) => f.value),
			[`Inbox/${name}`, `Inbox/${name}/Deep`],
		);
	});

	it('attachments: list and download over Graph', async () => {
		const id = await graphDeliver(ALICE, {
			subject: 'files',
			attachments: [
				{ filename: 'a.txt', content: 'AAA' },
				{ filename: 'b.txt', content: 'BBB' },
			],
		});
		const list = await action({ resource: 'attachment', operation: 'getAll', messageId: id });
		assert.deepEqual(
			list.map((i) => i.json.filename),
			['a.txt', 'b.txt'],
		);
		const [one] = await action({
			resource: 'attachment',
			operation: 'download',
			messageId: id,
			which: 'index',
			index: 1,
			prefix: 'f_',
		});
		assert.equal(Buffer.from(one.binary!.f_0.data, 'base64').toString(), 'BBB');
	});
});

describe('Graph: bad input names the fix', () => {
	it('a mailbox that does not exist', async () => {
		await assert.rejects(
			action({
				resource: 'folder',
				operation: 'getAll',
				returnAll: true,
				mailbox: 'nobody@example.test',
			}),
			(e: Error & { description?: string }) =>
				/not found/.test(e.message) && /Mailbox address/.test(e.description ?? ''),
		);
	});

	it('a shared mailbox without permission (ErrorAccessDenied)', async () => {
		await assert.rejects(
			action(
				{ resource: 'folder', operation: 'getAll', returnAll: true, mailbox: 'bob@example.test' },
				'alice-shared',
			),
			(e: Error & { description?: string }) =>
				/No permission/.test(e.message) &&
				/Full Access/.test(e.description ?? '') &&
				/ErrorAccessDenied/.test(e.description ?? ''),
		);
	});

	it('the shared mailbox with the shared scopes works', async () => {
		const folders = await action(
			{ resource: 'folder', operation: 'getAll', returnAll: true, mailbox: 'shared@example.test' },
			'alice-shared',
		);
		assert.ok(folders.some((f) => f.json.path === 'Inbox'));
	});

	it('a folder that does not exist, an IMAP id, a malformed id', async () => {
		await assert.rejects(
			pollTrigger(trigger('Inbox/Nope-404'), store, {}),
			/Folder "Inbox\/Nope-404" not found/,
		);
		await assert.rejects(
			action({ resource: 'message', operation: 'get', messageId: 'imap:1:2:Inbox' }),
			/IMAP message ID/,
		);
		await assert.rejects(
			action({ resource: 'message', operation: 'get', messageId: 'not-a-graph-id' }),
			(e: Error & { description?: string }) =>
				/not a Microsoft Graph/.test(e.message) &&
				/ErrorInvalidIdMalformed/.test(e.description ?? ''),
		);
	});
});

/** A Graph client for the shared mailbox, signed in app-only with the stack's service app. */
function sharedMailboxClient(options: { maxWaitMs?: number } = {}): GraphClient {
	const cloud = resolveCloud(customCloudFields() as CloudSettings);
	return new GraphClient({
		cloud,
		tokens: AppOnlyTokenProvider.for({
			cloud,
			tenant: TENANT_ID,
			clientId: APPS.service.clientId,
			authentication: 'secret',
			clientSecret: APPS.service.secrets[0].value,
		}),
		mailbox: 'shared@example.test',
		...options,
	});
}

describe('Graph client: throttling rules', () => {
	const client = () => sharedMailboxClient({ maxWaitMs: 2000 });

	it('an absolute URL on another host is refused before any request (no token leaves)', async () => {
		await assert.rejects(
			client().request({ path: 'https://graph.evil.test/v1.0/me/messages' }),
			(e: MailServiceError) => e.code === 'ForeignGraphOrigin' && /Refusing/.test(e.message),
		);
	});

	it('Retry-After as seconds or an HTTP date', () => {
		assert.equal(retryAfterMs('3', 0), 3000);
		assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 0), 10_000);
		assert.equal(retryAfterMs(null), undefined);
	});

	it('a wait longer than the cap fails with a clear error instead of hanging', async () => {
		await graphInject(429, 1, '3600');
		await assert.rejects(
			client().request({ path: '/mailFolders' }),
			(e: MailServiceError) => e.kind === 'throttled' && /kept throttling/.test(e.message),
		);
	});

	it('a send is never retried after 503', async () => {
		const subject = `never twice ${Date.now()}`;
		await graphInject(503, 1, '0');
		const raw = Buffer.from(
			`From: shared@example.test\r\nTo: bob@example.test\r\nSubject: ${subject}\r\n\r\nx\r\n`,
		);
		await assert.rejects(
			client().request({
				method: 'POST',
				path: '/sendMail',
				text: raw.toString('base64'),
				idempotent: false,
			}),
		);
		assert.ok(!(await graphList('bob@example.test', 'inbox')).some((m) => m.subject === subject));
	});

	it('a first baseline of a large folder keeps its progress across polls (one page per poll past the deadline) and emits nothing old', async () => {
		const { pollGraph } = await import('../../nodes/M365Mail/transport/graph/poll');
		const folder = `Inbox/g-baseline-${randomUUID().slice(0, 8)}`;
		await graphFolder('shared@example.test', folder);
		for (let i = 0; i < 120; i++)
			await graphDeliver('shared@example.test', { subject: `old ${i}` }, folder);
		const graph = client();
		const options = {
			folder,
			startFrom: 'now' as const,
			filters: {},
			maxMessages: 50,
			content: 'summary' as const,
			deadline: Date.now() - 1,
		};
		const links: string[] = [];
		let outcome = await pollGraph(graph, options);
		links.push(outcome.cursor.link);
		for (let i = 0; i < 5 && /skiptoken/i.test(outcome.cursor.link); i++) {
			assert.deepEqual(outcome.messages, []);
			outcome = await pollGraph(graph, { ...options, cursor: outcome.cursor });
			links.push(outcome.cursor.link);
		}
		assert.equal(links.length, 3, 'three pages of 50, one per poll');
		assert.equal(new Set(links).size, 3, 'every poll moved on');
		assert.match(outcome.cursor.link, /deltatoken/i);
		await graphDeliver('shared@example.test', { subject: 'new after the baseline' }, folder);
		outcome = await pollGraph(graph, { ...options, cursor: outcome.cursor });
		assert.deepEqual(
			outcome.messages.map((m) => m.message.subject),
			['new after the baseline'],
		);
	});

	it('a mailbox that is not an address is refused before any request', () => {
		assert.throws(
			() =>
				new GraphClient({
					cloud: resolveCloud(customCloudFields() as CloudSettings),
					tokens: { kind: 'appOnly' } as never,
					mailbox: 'not an address',
				}),
			/not a mailbox address/,
		);
	});
});

describe('Graph emulator: $orderby with $filter as Graph takes it', () => {
	const list = (query: Record<string, string>) =>
		sharedMailboxClient().request({
			path: '/mailFolders/inbox/messages',
			query: { $top: '1', ...query },
		});
	const refused = (e: MailServiceError) => e.code === 'InefficientFilter';

	// The examples of Microsoft's "Update to Filtering and Sorting in the Mail, Calendar and Contacts
	// REST API": a sorted property must lead the filter.
	it('refuses a sort on a property the filter does not start with', async () => {
		const from = "from/emailAddress/address eq 'carol@example.test'";
		await assert.rejects(list({ $orderby: 'receivedDateTime', $filter: from }), refused);
		await assert.rejects(
			list({
				$orderby: 'receivedDateTime desc',
				$filter: 'isRead eq false and receivedDateTime ge 1900-01-01T00:00:00Z',
			}),
			refused,
		);
	});

	it('takes it when the filter starts with the sorted property, and a sort without a filter', async () => {
		await list({
			$orderby: 'receivedDateTime',
			$filter:
				"receivedDateTime ge 1900-01-01T00:00:00Z and from/emailAddress/address eq 'c@x.test'",
		});
		await list({ $orderby: 'receivedDateTime desc' });
	});
});

/**
 * Sessions kept between polls (transport/imap/kept.ts), with n8n's clock mocked: which session is
 * taken back, which is closed, and when. The same behaviour on real Dovecot is in
 * test/integration/trigger-imap.test.ts ("polls of one trigger share one IMAP session").
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';

import type { ImapFlow } from 'imapflow';

import {
	canDeselect,
	KEEP_IDLE_MS,
	keepSession,
	MAX_SESSION_AGE_MS,
	keptSessions,
	PROBE_TIMEOUT_MS,
	takeKept,
	tokenFingerprint,
} from '../../nodes/M365Mail/transport/imap/kept';
import {
	answersWithin,
	markUsed,
	QUIET_MS,
	silenceError,
	stillAnswers,
	trackSession,
} from '../../nodes/M365Mail/transport/imap/session';

/**
 * A session that records what was asked of it; `noop` (and LOGOUT when silent, and leaving a folder)
 * answers as told. `selected`: a folder is selected, opened read-only or for changes; `refuses`: the
 * server answers NO to leaving it; `unselect`: the server has UNSELECT.
 */
function fakeClient(
	noop: 'answers' | 'silent' | 'fails' = 'answers',
	folder: { selected?: 'readOnly' | 'forChanges'; refuses?: boolean; unselect?: boolean } = {},
) {
	const calls: string[] = [];
	const socket = {
		referenced: true,
		ref() {
			this.referenced = true;
		},
		unref() {
			this.referenced = false;
		},
	};
	const client = {
		usable: true,
		idling: false,
		/** A command in flight (imapflow's connectionBusy). */
		busy: false,
		connectionBusy: () => client.busy,
		socket,
		calls,
		noop: () => {
			calls.push('noop');
			if (noop === 'silent') return new Promise(() => undefined);
			if (noop === 'fails') return Promise.reject(new Error('Connection not available'));
			return Promise.resolve();
		},
		mailbox: (folder.selected ? { readOnly: folder.selected === 'readOnly' } : false) as
			| false
			| { readOnly: boolean },
		capabilities: new Set(folder.unselect === false ? [] : ['UNSELECT']),
		/** imapflow's run('CLOSE', { unselect: true }): UNSELECT where the server has it, else CLOSE. */
		run: (command: string, options: { unselect?: boolean }) => {
			const sent = options.unselect && client.capabilities.has('UNSELECT') ? 'UNSELECT' : command;
			calls.push(sent.toLowerCase());
			if (noop === 'silent') return new Promise(() => undefined);
			if (folder.refuses) return Promise.resolve(false);
			client.mailbox = false;
			return Promise.resolve(true);
		},
		logout: () => {
			calls.push('logout');
			if (noop === 'silent') return new Promise(() => undefined);
			client.usable = false;
			return Promise.resolve();
		},
		close: () => {
			calls.push('close');
			client.usable = false;
			for (const fn of closeListeners) fn();
		},
		/** Bytes received from the server (imapflow's stats()). */
		received: 0,
		stats: () => ({ sent: 0, received: client.received }),
		on: (event: string, fn: () => void) => {
			if (event === 'close') closeListeners.push(fn);
		},
	};
	const closeListeners: Array<() => void> = [];
	return client;
}
const asFlow = (c: ReturnType<typeof fakeClient>) => c as unknown as ImapFlow;
/** Lets the promise callbacks that are due run. */
const flush = async () => {
	for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('sessions kept between polls', () => {
	beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
	afterEach(() => mock.timers.reset());

	it('the same key and token take the session back, once; it holds the process only while in use', async () => {
		const client = fakeClient();
		assert.equal(keepSession('k1', 'token-a', asFlow(client)), true);
		assert.equal(client.socket.referenced, false, 'a kept session does not keep n8n running');
		assert.equal(keptSessions(), 1);
		assert.equal(await takeKept('k1', 'token-a'), asFlow(client));
		assert.equal(client.socket.referenced, true);
		assert.deepEqual(client.calls, ['noop']);
		assert.equal(keptSessions(), 0);
		assert.equal(await takeKept('k1', 'token-a'), undefined, 'one user at a time');
	});

	it('another token (refreshed, re-connected, another account) closes the kept session', async () => {
		const client = fakeClient();
		keepSession('k2', 'token-a', asFlow(client));
		assert.equal(await takeKept('k2', 'token-b'), undefined);
		assert.deepEqual(client.calls, ['close']);
		assert.equal(keptSessions(), 0);
	});

	it('another key never sees the session', async () => {
		const client = fakeClient();
		keepSession('k3', 'token-a', asFlow(client));
		assert.equal(await takeKept('k3-other', 'token-a'), undefined);
		assert.equal(await takeKept('k3', 'token-a'), asFlow(client));
	});

	it('a session the server closed, or whose NOOP fails, is not taken back', async () => {
		const closed = fakeClient();
		keepSession('k4', 'token-a', asFlow(closed));
		closed.usable = false;
		assert.equal(await takeKept('k4', 'token-a'), undefined);
		const failing = fakeClient('fails');
		keepSession('k4', 'token-a', asFlow(failing));
		assert.equal(await takeKept('k4', 'token-a'), undefined);
		assert.deepEqual(failing.calls, ['noop', 'close']);
	});

	it('a silent session (a connection dropped on the way) is given up after PROBE_TIMEOUT_MS', async () => {
		const silent = fakeClient('silent');
		keepSession('k5', 'token-a', asFlow(silent));
		let taken: ImapFlow | undefined | 'pending' = 'pending';
		const taking = takeKept('k5', 'token-a').then((c) => (taken = c));
		await Promise.resolve();
		mock.timers.tick(PROBE_TIMEOUT_MS - 1);
		await Promise.resolve();
		assert.equal(taken, 'pending');
		mock.timers.tick(1);
		await taking;
		assert.equal(taken, undefined);
		assert.deepEqual(silent.calls, ['noop', 'close']);
	});

	it('a session kept with its folder selected answers by leaving the folder (UNSELECT), not with a NOOP, and is taken back with no folder selected', async () => {
		for (const selected of ['readOnly', 'forChanges'] as const) {
			const client = fakeClient('answers', { selected });
			assert.equal(canDeselect(asFlow(client)), true);
			keepSession('k6', 'token-a', asFlow(client));
			assert.equal(await takeKept('k6', 'token-a'), asFlow(client));
			assert.deepEqual(client.calls, ['unselect']);
			assert.equal(client.mailbox, false);
		}
		// A folder opened read-only on a server without UNSELECT: CLOSE, which removes nothing there.
		const closing = fakeClient('answers', { selected: 'readOnly', unselect: false });
		keepSession('k6', 'token-a', asFlow(closing));
		assert.equal(await takeKept('k6', 'token-a'), asFlow(closing));
		assert.deepEqual(closing.calls, ['close']);
	});

	it('a folder opened for changes on a server without UNSELECT cannot be left without expunging: such a session is not kept, and never sent CLOSE', async () => {
		const client = fakeClient('answers', { selected: 'forChanges', unselect: false });
		assert.equal(canDeselect(asFlow(client)), false);
		// Were it kept anyway, taking it back closes the connection (no CLOSE command).
		keepSession('k7', 'token-a', asFlow(client));
		assert.equal(await takeKept('k7', 'token-a'), undefined);
		assert.deepEqual(client.calls, ['close']);
		const busy = fakeClient('answers', { selected: 'readOnly' });
		busy.busy = true;
		assert.equal(canDeselect(asFlow(busy)), false);
	});

	it('a selected session that does not answer leaving the folder is given up after PROBE_TIMEOUT_MS; one the server refuses to let leave is closed, and not counted as silent', async () => {
		const silent = fakeClient('silent', { selected: 'readOnly' });
		keepSession('k8', 'token-a', asFlow(silent));
		let taken: ImapFlow | undefined | 'pending' = 'pending';
		const taking = takeKept('k8', 'token-a').then((c) => (taken = c));
		await flush();
		mock.timers.tick(PROBE_TIMEOUT_MS - 1);
		await flush();
		assert.equal(taken, 'pending');
		mock.timers.tick(1);
		await taking;
		assert.equal(taken, undefined);
		assert.deepEqual(silent.calls, ['unselect', 'close']);

		// Refused: the session answered, so a session last used before this one is trusted still.
		const other = fakeClient();
		markUsed(asFlow(other));
		const refusing = fakeClient('answers', { selected: 'readOnly', refuses: true });
		keepSession('k8', 'token-a', asFlow(refusing));
		assert.equal(await takeKept('k8', 'token-a'), undefined);
		assert.deepEqual(refusing.calls, ['unselect', 'close']);
		mock.timers.tick(1);
		assert.equal(await stillAnswers(asFlow(other), 1000), true);
		assert.deepEqual(other.calls, [], 'not asked: no session was found silent');
	});

	it('a session not taken back within KEEP_IDLE_MS is logged out', async () => {
		const client = fakeClient();
		keepSession('k6', 'token-a', asFlow(client));
		mock.timers.tick(KEEP_IDLE_MS - 1);
		assert.deepEqual(client.calls, []);
		mock.timers.tick(1);
		assert.deepEqual(client.calls, ['logout']);
		assert.equal(keptSessions(), 0);
		assert.equal(await takeKept('k6', 'token-a'), undefined);
	});

	it('a session not taken back whose LOGOUT is not answered (a silent connection) is closed 3 s later', async () => {
		const client = fakeClient('silent');
		keepSession('k6s', 'token-a', asFlow(client));
		mock.timers.tick(KEEP_IDLE_MS);
		assert.deepEqual(client.calls, ['logout']);
		mock.timers.tick(2_999);
		await flush();
		assert.deepEqual(client.calls, ['logout']);
		mock.timers.tick(1);
		await flush();
		assert.deepEqual(client.calls, ['logout', 'close']);
	});

	it('keeping a second session under a key logs the first out; an unusable one is not kept', async () => {
		const first = fakeClient();
		const second = fakeClient();
		keepSession('k7', 'token-a', asFlow(first));
		keepSession('k7', 'token-a', asFlow(second));
		assert.deepEqual(first.calls, ['logout']);
		assert.equal(await takeKept('k7', 'token-a'), asFlow(second));
		const dead = fakeClient();
		dead.usable = false;
		assert.equal(keepSession('k7', 'token-a', asFlow(dead)), false);
		assert.equal(keptSessions(), 0);
	});

	it('a session signs in again after MAX_SESSION_AGE_MS, however often it was taken back', async () => {
		const client = fakeClient();
		let taken: ImapFlow | undefined = asFlow(client);
		let polls = 0;
		// A poll every minute: taken back, kept again.
		while (taken) {
			keepSession('k8', 'token-a', asFlow(client));
			mock.timers.tick(60_000);
			taken = await takeKept('k8', 'token-a');
			polls++;
		}
		assert.equal(polls, MAX_SESSION_AGE_MS / 60_000);
		assert.equal(client.calls.at(-1), 'close');
	});

	it('only a fingerprint of the token is kept', () => {
		const print = tokenFingerprint('eyJhbGciOi.secret.token');
		assert.match(print, /^[0-9a-f]{64}$/);
		assert.ok(!print.includes('secret'));
	});
});

describe('a session used again (transport/imap/session.ts stillAnswers)', () => {
	beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
	afterEach(() => mock.timers.reset());

	it('used within QUIET_MS: used again without a NOOP', async () => {
		const client = fakeClient('silent');
		markUsed(asFlow(client));
		mock.timers.tick(QUIET_MS - 1);
		assert.equal(await stillAnswers(asFlow(client), 1000), true);
		assert.deepEqual(client.calls, []);
	});

	it('unused for QUIET_MS: asked a NOOP; one that answers is used, a silent one is given up after the wait', async () => {
		const live = fakeClient();
		markUsed(asFlow(live));
		mock.timers.tick(QUIET_MS);
		assert.equal(await stillAnswers(asFlow(live), 1000), true);
		assert.deepEqual(live.calls, ['noop']);
		const silent = fakeClient('silent');
		markUsed(asFlow(silent));
		mock.timers.tick(QUIET_MS);
		const asking = stillAnswers(asFlow(silent), 1000);
		mock.timers.tick(1000);
		assert.equal(await asking, false);
		assert.deepEqual(silent.calls, ['noop']);
	});

	it('a command in flight: not asked (its NOOP would wait its turn), used as it is', async () => {
		const client = fakeClient('silent');
		markUsed(asFlow(client));
		mock.timers.tick(QUIET_MS);
		client.busy = true;
		assert.equal(await stillAnswers(asFlow(client), 1000), true);
		assert.deepEqual(client.calls, []);
	});

	it('once a session was found silent, every session last used before that is asked, however recently', async () => {
		const other = fakeClient();
		markUsed(asFlow(other));
		mock.timers.tick(1);
		const silent = fakeClient('silent');
		const asking = answersWithin(asFlow(silent), 1000);
		mock.timers.tick(1000);
		assert.equal(await asking, false);
		assert.equal(await stillAnswers(asFlow(other), 1000), true);
		assert.deepEqual(other.calls, ['noop']);
		// Used after the silence was found: trusted again.
		assert.equal(await stillAnswers(asFlow(other), 1000), true);
		assert.deepEqual(other.calls, ['noop']);
	});

	it('a session found silent gives up the sessions to its server that waited on a command without a byte meanwhile; one still receiving, one with nothing in flight, and one to another server are left alone', async () => {
		const silent = fakeClient('silent');
		const waiting = fakeClient();
		const receiving = fakeClient();
		const free = fakeClient();
		const elsewhere = fakeClient();
		for (const c of [silent, waiting, receiving, free]) trackSession(asFlow(c), 'imap.test:993');
		trackSession(asFlow(elsewhere), 'other.test:993');
		waiting.busy = receiving.busy = elsewhere.busy = true;
		const asking = answersWithin(asFlow(silent), 1000);
		receiving.received += 4096;
		mock.timers.tick(1000);
		assert.equal(await asking, false);
		assert.deepEqual(waiting.calls, ['close']);
		assert.match(silenceError(asFlow(waiting), 'a poll')?.message ?? '', /for 1 s: the connection/);
		for (const c of [receiving, free, elsewhere]) assert.deepEqual(c.calls, []);
		// Found silent again: the session given up is not closed twice, the one receiving is left alone.
		const again = answersWithin(asFlow(silent), 1000);
		receiving.received += 4096;
		mock.timers.tick(1000);
		assert.equal(await again, false);
		assert.deepEqual(waiting.calls, ['close']);
		assert.deepEqual(receiving.calls, []);
		assert.equal(silenceError(asFlow(receiving), 'a poll'), undefined);
	});

	it('an unusable session is not used', async () => {
		const client = fakeClient();
		client.usable = false;
		assert.equal(await stillAnswers(asFlow(client), 1000), false);
	});
});

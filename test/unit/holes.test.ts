/**
 * The holes an IMAP cursor keeps (transport/imap/holes.ts): how they are read back from n8n's static
 * data, when they expire, and how many are kept. That a filled hole is emitted once is tested on
 * Dovecot in test/integration/trigger-imap.test.ts ("shows only after newer ones").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
	freshHoles,
	HOLE_TTL_MS,
	keptHoles,
	lookAgainIn,
	MAX_HOLES,
	uidsOf,
	YOUNG_HOLE_MS,
	type Hole,
} from '../../nodes/M365Mail/transport/imap/holes';

const at = (ms: number) => new Date(ms).toISOString();

describe('holes kept with an IMAP cursor', () => {
	it('reads UID sets back, ignoring what is malformed or too large to be a hole', () => {
		assert.deepEqual(uidsOf('3:5,9'), [3, 4, 5, 9]);
		assert.deepEqual(uidsOf('x,0,5:3,-1'), []);
		assert.deepEqual(uidsOf(`1:${MAX_HOLES + 1}`), []);
		assert.deepEqual(uidsOf(''), []);
	});

	it('asks the instant trigger to look again soon after a hole appears, less often as it ages, and not once it is ten minutes old', () => {
		const now = Date.parse('2026-12-05T12:00:00Z');
		const hole = (ageMs: number): Hole => ({ uids: '5', at: at(now - ageMs) });
		assert.equal(lookAgainIn(undefined, now), undefined);
		assert.equal(lookAgainIn([], now), undefined);
		assert.equal(lookAgainIn([hole(0)], now), 5_000);
		assert.equal(lookAgainIn([hole(2 * 60_000)], now), 30_000);
		assert.equal(lookAgainIn([hole(9 * 60_000)], now), 60_000);
		assert.equal(lookAgainIn([hole(YOUNG_HOLE_MS)], now), undefined);
		// The youngest hole sets the pace; a date that is not one is no hole to look at.
		assert.equal(lookAgainIn([hole(YOUNG_HOLE_MS + 1), hole(60_000)], now), 15_000);
		assert.equal(lookAgainIn([{ uids: '5', at: 'soon' }], now), undefined);
	});

	it('drops holes a day old and anything that is not a hole (static data is not trusted)', () => {
		const now = Date.parse('2026-12-05T12:00:00Z');
		const holes = [
			{ uids: '1', at: at(now - HOLE_TTL_MS - 1) },
			{ uids: '2', at: at(now - HOLE_TTL_MS + 60_000) },
			{ uids: 7, at: at(now) },
			null,
			{ uids: '3', at: 'yesterday-ish' },
		] as unknown as Hole[];
		assert.deepEqual(freshHoles(holes, now), [{ uids: '2', at: at(now - HOLE_TTL_MS + 60_000) }]);
		assert.deepEqual(freshHoles('nonsense' as unknown as Hole[], now), []);
		assert.deepEqual(freshHoles(undefined, now), []);
	});

	it(`keeps the newest ${MAX_HOLES} UIDs, and nothing when there is none`, () => {
		const now = Date.now();
		const kept = keptHoles([
			{ uids: `1:${MAX_HOLES - 1}`, at: at(now - 2) },
			undefined,
			{ uids: '5000,5002', at: at(now - 1) },
			{ uids: '', at: at(now) },
		])!;
		const uids = kept.flatMap((h) => uidsOf(h.uids));
		assert.equal(uids.length, MAX_HOLES);
		assert.deepEqual(uids.slice(0, 2), [2, 3], 'the oldest UIDs went first');
		assert.deepEqual(uids.slice(-2), [5000, 5002]);
		assert.equal(keptHoles([undefined, { uids: '', at: at(now) }]), undefined);
	});
});

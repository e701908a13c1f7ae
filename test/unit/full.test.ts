/**
 * The whole-message reader of the parsed and full outputs (transport/mime/full.ts) gives what
 * mailparser gives, item for item, over the hostile corpus, the well-formed corpus and 300 varied
 * messages, with and without the full output; and it reads most common mail itself (a reader that
 * always handed over to mailparser would pass the first test and fail the second).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { fullTools, parseWhole } from '../../nodes/M365Mail/transport/mime/full';
import { parseRawMessage, type MessageEnvelope } from '../../nodes/M365Mail/transport/mime/parse';
import { hostileCorpus } from '../fixtures/hostile';
import { variedCorpus, wellFormedCorpus } from '../fixtures/wellformed';

const envelope: MessageEnvelope = {
	id: 'imap:7:1:Inbox',
	mailbox: 'alice@example.test',
	folder: 'Inbox',
	flags: [],
	size: 10,
};

describe('reading whole messages as mailparser does', () => {
	let corpus: Array<{ subject: string; raw: Buffer }> = [];
	let varied: Array<{ subject: string; raw: Buffer }> = [];
	before(async () => {
		varied = await variedCorpus(300);
		corpus = [...hostileCorpus(), ...(await wellFormedCorpus()), ...varied];
	});

	for (const full of [true, false]) {
		it(`the same item as mailparser's (${full ? 'full' : 'parsed'} output)`, async () => {
			const differences: string[] = [];
			for (const { subject, raw } of corpus) {
				const ours = await parseRawMessage(raw, envelope, { full });
				const theirs = await parseRawMessage(raw, envelope, { full, reader: 'mailparser' });
				try {
					assert.deepEqual(ours, theirs);
				} catch (error) {
					differences.push(`${subject}: ${(error as Error).message.slice(0, 1500)}`);
				}
			}
			assert.deepEqual(differences, []);
		});
	}

	it('reads the common shapes itself', async () => {
		const tools = await fullTools();
		const read = varied.filter((m) => parseWhole(tools, m.raw, { full: true }));
		assert.ok(read.length >= varied.length * 0.9, `${read.length} of ${varied.length}`);
	});
});

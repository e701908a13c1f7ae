/**
 * The hostile-mail corpus (test/fixtures/hostile.ts) through the trigger and Get, over IMAP and over
 * Graph: every message is emitted, no poll crashes, the message after the corpus still comes, and no
 * attachment name breaks the rule of transport/mime/filename.ts, in the item JSON or in the binary data.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';

import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { assertSafeFileName, hostileCorpus } from '../fixtures/hostile';
import { GRAPH_SCOPES, graphCounts, graphDeliver, graphFolder } from '../harness/graph';
import { appendMails, freshFolder } from '../harness/mail';
import { CredentialStore, pollTrigger, runActionNode, triggerNode } from '../harness/n8n';
import { delegatedCredential, IMAP_SCOPES, signIn } from '../harness/stack';

const store = new CredentialStore();
const ALICE = 'alice@example.test';

before(async () => {
	store.set('imap', delegatedCredential(await signIn(ALICE, IMAP_SCOPES)));
	store.set('graph', delegatedCredential(await signIn(ALICE, GRAPH_SCOPES), { access: 'graph' }));
});

/** Every file name an item shows, in its JSON and in its binary data, that breaks the rule. */
function unsafeNames(items: INodeExecutionData[]): string[] {
	const problems: string[] = [];
	for (const item of items) {
		for (const a of (item.json.attachments as IDataObject[] | undefined) ?? []) {
			const problem = assertSafeFileName(a.filename);
			if (problem) problems.push(`${item.json.subject}: json ${problem}`);
		}
		for (const [key, binary] of Object.entries(item.binary ?? {})) {
			const problem = assertSafeFileName(binary.fileName);
			if (problem) problems.push(`${item.json.subject}: binary ${key} ${problem}`);
			if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i.test(binary.mimeType))
				problems.push(`${item.json.subject}: binary ${key} mime type ${binary.mimeType}`);
		}
	}
	return problems;
}

const corpus = hostileCorpus();
const expected = [...corpus.map((m) => m.subject), 'plain after the corpus'];

for (const protocol of ['imap', 'graph'] as const) {
	describe(`hostile mail over ${protocol === 'imap' ? 'IMAP' : 'Graph'}`, () => {
		let folder = '';
		const emitted: INodeExecutionData[] = [];

		it('the trigger emits every message of the corpus and the one after it, with safe names only', async () => {
			const node = triggerNode(
				'',
				{ output: 'full', downloadAttachments: true, maxMessages: 100 },
				protocol,
				protocol,
			);
			if (protocol === 'imap') {
				folder = await freshFolder('hostile');
			} else {
				folder = `Inbox/hostile-${randomUUID().slice(0, 8)}`;
				await graphFolder(ALICE, folder);
			}
			node.parameters.folder = { __rl: true, mode: 'path', value: folder };
			const state: IDataObject = {};
			await pollTrigger(node, store, state);
			for (const mail of corpus) {
				if (protocol === 'imap') await appendMails(folder, [mail.raw]);
				else await graphDeliver(ALICE, mail.raw, folder);
			}
			if (protocol === 'imap') await appendMails(folder, [{ subject: 'plain after the corpus' }]);
			else await graphDeliver(ALICE, { subject: 'plain after the corpus' }, folder);
			for (let poll = 0; poll < 5 && emitted.length < expected.length; poll++)
				emitted.push(...(await pollTrigger(node, store, state)));
			// A subject is shown on one line: control characters become spaces.
			const label = (subject: string) =>
				expected.find((e) => e && subject.startsWith(e)) ?? subject;
			assert.deepEqual(
				emitted.map((i) => label(String(i.json.subject ?? ''))).sort(),
				[...expected].sort(),
			);
			assert.ok(emitted.every((i) => !/[\r\n\0]/.test(String(i.json.subject))));
			assert.deepEqual(unsafeNames(emitted), []);
			const traversal = emitted.find((i) => i.json.subject === 'traversal')!;
			const [attachment] = traversal.json.attachments as IDataObject[];
			assert.equal(attachment.filename, 'config');
			assert.equal(attachment.originalFileName, '../../../home/node/.n8n/config');
			assert.equal(traversal.binary?.attachment_0.fileName, 'config');
			const bidi = emitted.find((i) => i.json.subject === 'bidi exe')!;
			assert.equal((bidi.json.attachments as IDataObject[])[0].filename, 'invoicefdp.exe');
		});

		it('Get of each hostile message returns it with safe names only', async () => {
			const ids = emitted.map((i) => String(i.json.id));
			assert.equal(ids.length, expected.length, 'the trigger test emitted the whole corpus');
			const items = await runActionNode(
				{
					parameters: {
						authentication: 'delegated',
						protocol,
						mailbox: '',
						resource: 'message',
						operation: 'get',
						messageId: '={{ $json.id }}',
						output: 'simple',
						downloadAttachments: true,
					},
					credentials: { m365MailOAuth2Api: protocol },
				},
				store,
				ids.map((id) => ({ json: { id } })),
			);
			assert.equal(items[0].length, ids.length);
			assert.deepEqual(unsafeNames(items[0]), []);
		});
	});
}

describe('memory caps per message', () => {
	it('Simple output cuts a huge text body at 1 MB and says so, over IMAP and Graph; the bytes are never all downloaded over IMAP', async () => {
		const huge = { subject: 'huge body', text: 'y'.repeat(3 * 1024 * 1024) };
		for (const protocol of ['imap', 'graph'] as const) {
			const node = triggerNode('', { output: 'simple', maxMessages: 10 }, protocol, protocol);
			let folder: string;
			if (protocol === 'imap') folder = await freshFolder('huge');
			else {
				folder = `Inbox/huge-${randomUUID().slice(0, 8)}`;
				await graphFolder(ALICE, folder);
			}
			node.parameters.folder = { __rl: true, mode: 'path', value: folder };
			const state: IDataObject = {};
			await pollTrigger(node, store, state);
			if (protocol === 'imap') await appendMails(folder, [huge, { subject: 'small body' }]);
			else {
				await graphDeliver(ALICE, huge, folder);
				await graphDeliver(ALICE, { subject: 'small body' }, folder);
			}
			const [big, small] = await pollTrigger(node, store, state);
			assert.equal(big.json.truncated, true, protocol);
			assert.ok(Buffer.byteLength(String(big.json.text)) <= 1024 * 1024, protocol);
			assert.ok(String(big.json.text).length > 1000 * 1000, protocol);
			assert.equal(small.json.truncated, undefined, protocol);
		}
	});

	it('Graph attachments are read from $value, never as base64 in JSON', async () => {
		const folder = `Inbox/att-${randomUUID().slice(0, 8)}`;
		await graphFolder(ALICE, folder);
		const id = await graphDeliver(
			ALICE,
			{
				subject: 'with file',
				attachments: [{ filename: 'data.bin', content: Buffer.alloc(50_000, 1) }],
			},
			folder,
		);
		const before = await graphCounts();
		const [[item]] = await runActionNode(
			{
				parameters: {
					authentication: 'delegated',
					protocol: 'graph',
					mailbox: '',
					resource: 'attachment',
					operation: 'download',
					messageId: id,
				},
				credentials: { m365MailOAuth2Api: 'graph' },
			},
			store,
		);
		const binary = Object.values(item.binary ?? {})[0];
		assert.equal(Buffer.from(binary.data, 'base64').length, 50_000);
		const after = await graphCounts();
		const valueReads = Object.keys(after).filter(
			(k) => /attachments\/\{?[^/]*\}?\/\$value/.test(k) && (after[k] ?? 0) > (before[k] ?? 0),
		);
		assert.ok(valueReads.length > 0, JSON.stringify(after));
	});
});

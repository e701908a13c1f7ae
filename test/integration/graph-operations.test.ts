/**
 * The Graph-only and large-mail parts of the action node against the emulator: categories, flag
 * due dates and "complete", `$search`, item attachments as .eml, Bcc, sends over 3 MB through a
 * draft and upload sessions, and dropped connections.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';

import { simpleParser } from 'mailparser';
import type { IDataObject, INodeExecutionData, INodeParameters } from 'n8n-workflow';

import {
	GRAPH_SCOPES,
	graphCounts,
	graphDeliver,
	graphDrop,
	graphFolder,
	graphList,
	graphRaw,
} from '../harness/graph';
import { buildMail } from '../harness/mail';
import { CredentialStore, pollTrigger, runActionNode, triggerNode } from '../harness/n8n';
import { delegatedCredential, signIn } from '../harness/stack';

const store = new CredentialStore();
const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const CAROL = 'carol@example.test';

async function action(
	parameters: INodeParameters,
	items?: INodeExecutionData[],
	onError?: 'continueRegularOutput',
) {
	return (
		await runActionNode(
			{
				parameters: { authentication: 'delegated', mailbox: '', ...parameters },
				credentials: { m365MailOAuth2Api: 'alice' },
				onError,
			},
			store,
			items,
		)
	)[0];
}

async function freshGraphFolder(prefix: string): Promise<string> {
	const path = `Inbox/${prefix}-${randomUUID().slice(0, 8)}`;
	await graphFolder(ALICE, path);
	return path;
}

/** How many requests of each kind a step made. */
async function countsDuring(step: () => Promise<unknown>): Promise<Record<string, number>> {
	const before = await graphCounts();
	await step();
	const after = await graphCounts();
	return Object.fromEntries(
		Object.entries(after)
			.map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
			.filter(([, v]) => v > 0),
	);
}

const binaryItem = (files: Record<string, { content: Buffer; name: string; type: string }>) => ({
	json: {},
	binary: Object.fromEntries(
		Object.entries(files).map(([key, f]) => [
			key,
			{ data: f.content.toString('base64'), mimeType: f.type, fileName: f.name },
		]),
	),
});

before(async () => {
	store.set('alice', delegatedCredential(await signIn(ALICE, GRAPH_SCOPES), { access: 'graph' }));
});

describe('Graph: categories and follow-up flags', () => {
	it('categories are added, removed and replaced, case-insensitively, without duplicates', async () => {
		const id = await graphDeliver(ALICE, { subject: 'categorise me' });
		const set = async (categories: string, categoryMode: string) =>
			(
				await action({
					resource: 'message',
					operation: 'setCategories',
					messageId: id,
					categories,
					categoryMode,
				})
			)[0].json.categories;
		assert.deepEqual(await set('Red category; Invoices', 'add'), ['Red category', 'Invoices']);
		assert.deepEqual(await set('invoices, Blue category', 'add'), [
			'Red category',
			'Invoices',
			'Blue category',
		]);
		assert.deepEqual(await set('RED CATEGORY', 'remove'), ['Invoices', 'Blue category']);
		assert.deepEqual(await set('Done', 'replace'), ['Done']);
		assert.deepEqual(await set('', 'replace'), []);
		const stored = (await graphList(ALICE, 'inbox')).find((m) => m.id === id) as
			| { categories?: string[] }
			| undefined;
		assert.deepEqual(stored?.categories, []);
	});

	it('flag with a due date (Graph needs a start with it), then complete, then unflag', async () => {
		const id = await graphDeliver(ALICE, { subject: 'follow up' });
		const [flagged] = await action({
			resource: 'message',
			operation: 'flag',
			messageId: id,
			flagOptions: { dueDate: '2026-12-01T17:00:00Z' },
		});
		assert.equal(flagged.json.isFlagged, true);
		assert.equal(flagged.json.flagStatus, 'flagged');
		assert.equal(flagged.json.flagDue, '2026-12-01T17:00:00.000Z');
		const stored = (await graphList(ALICE, 'inbox')).find((m) => m.id === id) as unknown as {
			flag: { startDateTime?: { dateTime: string }; dueDateTime?: { timeZone: string } };
		};
		assert.ok(stored.flag.startDateTime, 'a start date is sent with the due date');
		assert.equal(stored.flag.dueDateTime?.timeZone, 'UTC');
		const [complete] = await action({ resource: 'message', operation: 'complete', messageId: id });
		assert.equal(complete.json.flagStatus, 'complete');
		assert.equal(complete.json.isFlagged, false);
		const [cleared] = await action({ resource: 'message', operation: 'unflag', messageId: id });
		assert.equal(cleared.json.flagStatus, 'notFlagged');
	});

	it('a start after the due date, or a date that is not one, is refused before any request', async () => {
		const id = await graphDeliver(ALICE, { subject: 'bad dates' });
		await assert.rejects(
			action({
				resource: 'message',
				operation: 'flag',
				messageId: id,
				flagOptions: { dueDate: '2026-12-01T00:00:00Z', startDate: '2026-12-05T00:00:00Z' },
			}),
			(e: Error & { description?: string }) =>
				/after the due date/.test(e.message) && /on or before/.test(e.description ?? ''),
		);
		await assert.rejects(
			action({
				resource: 'message',
				operation: 'flag',
				messageId: id,
				flagOptions: { dueDate: 'next tuesday-ish' },
			}),
			/is not a date/,
		);
	});
});

describe('Graph: $search and item attachments', () => {
	it('get many with Search uses $search (no $filter with it) and still applies the other filters', async () => {
		const folder = await freshGraphFolder('g-search');
		await graphDeliver(ALICE, { subject: 'Statement', text: 'invoice INV-4411 attached' }, folder);
		await graphDeliver(ALICE, { subject: 'Lunch', text: 'pizza?' }, folder);
		const read = await graphDeliver(
			ALICE,
			{ subject: 'Old statement', text: 'invoice INV-4411 (copy)' },
			folder,
		);
		await action({ resource: 'message', operation: 'markAsRead', messageId: read });
		const base = {
			resource: 'message',
			operation: 'getAll',
			folder: { __rl: true, mode: 'path', value: folder },
			returnAll: true,
		};
		const subjects = (items: INodeExecutionData[]) => items.map((i) => i.json.subject).sort();
		assert.deepEqual(subjects(await action({ ...base, filters: { search: 'INV-4411' } })), [
			'Old statement',
			'Statement',
		]);
		assert.deepEqual(
			subjects(await action({ ...base, filters: { search: 'INV-4411', unreadOnly: true } })),
			['Statement'],
		);
	});

	it('an attached mail (item attachment) is listed and downloaded as .eml from $value', async () => {
		const inner = await buildMail({ subject: 'The original order', text: 'order body' });
		const id = await graphDeliver(ALICE, {
			subject: 'FW as attachment',
			attachments: [
				{
					filename: 'x.eml',
					content: inner,
					contentType: 'message/rfc822',
					contentDisposition: 'attachment',
				},
				{ filename: 'note.txt', content: 'plain file' },
			],
		});
		const list = await action({ resource: 'attachment', operation: 'getAll', messageId: id });
		assert.deepEqual(
			list.map((i) => [i.json.filename, i.json.contentType]),
			[
				['The original order.eml', 'message/rfc822'],
				['note.txt', 'text/plain'],
			],
		);
		const [downloaded] = await action({
			resource: 'attachment',
			operation: 'download',
			messageId: id,
			which: 'all',
			prefix: 'file_',
		});
		const eml = Buffer.from(downloaded.binary!.file_0.data, 'base64');
		assert.equal(downloaded.binary!.file_0.fileName, 'The original order.eml');
		assert.equal((await simpleParser(eml)).subject, 'The original order');
		assert.equal(Buffer.from(downloaded.binary!.file_1.data, 'base64').toString(), 'plain file');
	});
});

describe('Graph: sending large mail and Bcc', () => {
	it('a small send keeps Bcc for Graph: the Bcc recipient gets it, the others do not see it', async () => {
		const subject = `bcc ${Date.now()}`;
		const counts = await countsDuring(() =>
			action({
				resource: 'message',
				operation: 'send',
				to: BOB,
				subject,
				text: 'hi',
				options: { bcc: CAROL },
			}),
		);
		assert.equal(counts['POST /sendMail'], 1);
		const atCarol = (await graphList(CAROL, 'inbox')).find((m) => m.subject === subject);
		const atBob = (await graphList(BOB, 'inbox')).find((m) => m.subject === subject);
		assert.ok(atCarol, 'the Bcc recipient got it');
		assert.ok(atBob);
		assert.doesNotMatch((await graphRaw(BOB, atBob.id)).toString(), /^Bcc:/im);
	});

	it('send and wait for response: one sendMail with the signed links in HTML and text; the items go on; no recipient, a past time limit or a Custom Form that cannot be shown is refused before any send', async () => {
		const subject = `approval ${Date.now()}`;
		const items = [{ json: { order: 1 } }, { json: { order: 2 } }];
		let output: INodeExecutionData[] = [];
		const counts = await countsDuring(async () => {
			output = await action(
				{
					resource: 'message',
					operation: 'sendAndWait',
					to: BOB,
					subject,
					message: 'Order 1 & co: <i>ship</i>?',
					approvalOptions: { values: { approvalType: 'double' } },
				},
				items,
			);
		});
		assert.equal(counts['POST /sendMail'], 1);
		assert.deepEqual(
			output.map((item) => item.json),
			items.map((item) => item.json),
		);
		const atBob = (await graphList(BOB, 'inbox')).find((m) => m.subject === subject);
		assert.ok(atBob, 'Bob has the mail');
		const parsed = await simpleParser(await graphRaw(BOB, atBob.id));
		const html = String(parsed.html);
		assert.ok(html.includes('&lt;i&gt;ship&lt;/i&gt;?') && !html.includes('<i>ship'));
		const links = [...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1].replace(/&amp;/g, '&'));
		assert.equal(links.length, 2);
		for (const [link, approved] of [
			[links[0], 'false'],
			[links[1], 'true'],
		]) {
			const url = new URL(link);
			assert.equal(
				url.origin + url.pathname,
				'http://127.0.0.1/webhook-waiting/test-execution/node-1',
			);
			assert.equal(url.searchParams.get('approved'), approved);
			assert.match(String(url.searchParams.get('signature')), /^[0-9a-f]{64}$/);
			assert.ok(String(parsed.text).includes(link), 'the text part has the link too');
		}

		for (const [parameters, error] of [
			[{ to: '' }, /no recipient/],
			[
				{
					to: BOB,
					options: {
						limitWaitTime: {
							values: { limitType: 'atSpecifiedTime', maxDateAndTime: '2020-01-01T00:00:00Z' },
						},
					},
				},
				/not a time to come/,
			],
			[
				{
					to: BOB,
					responseType: 'customForm',
					formFields: { values: [{ fieldLabel: 'Team', fieldType: 'dropdown' }] },
				},
				/"Team" has an empty choice, or none/,
			],
		] as const) {
			const refused = await countsDuring(() =>
				assert.rejects(
					action({
						resource: 'message',
						operation: 'sendAndWait',
						subject,
						message: 'again?',
						...(parameters as INodeParameters),
					}),
					error,
				),
			);
			assert.equal(refused['POST /sendMail'], undefined);
		}
		// With Continue On Fail the refusal is an error item with its fix, paired with the first item.
		const [failed] = await action(
			{ resource: 'message', operation: 'sendAndWait', to: ' ; ', subject, message: 'again?' },
			items,
			'continueRegularOutput',
		);
		assert.match(String(failed.json.error), /no recipient/);
		assert.match(String(failed.json.description), /under "To"/);
		assert.deepEqual(failed.pairedItem, { item: 0 });
	});

	it('over 3 MB: a MIME draft, a small attachment by POST, a 7 MB one by upload session in ranges under 4 MB, then send', async () => {
		const subject = `large ${Date.now()}`;
		const big = randomBytes(7 * 1024 * 1024);
		const small = Buffer.from('small file');
		let sent: INodeExecutionData[] = [];
		const counts = await countsDuring(async () => {
			sent = await action(
				{
					resource: 'message',
					operation: 'send',
					to: BOB,
					subject,
					text: 'two files',
					options: { attachments: 'big, small', bcc: CAROL, importance: 'high' },
				},
				[
					binaryItem({
						big: { content: big, name: 'scan.bin', type: 'application/octet-stream' },
						small: { content: small, name: 'small.txt', type: 'text/plain' },
					}),
				],
			);
		});
		assert.equal(counts['POST /sendMail'], undefined, 'not one 9 MB sendMail');
		assert.equal(counts['POST /messages'], 1, 'one draft');
		assert.equal(counts['POST /messages/{id}/attachments'], 1, 'the small file in one POST');
		assert.equal(counts['POST /messages/{id}/attachments/createUploadSession'], 1);
		assert.equal(counts['PUT upload'], 3, '7 MB in ranges of 3.125 MiB');
		assert.equal(counts['POST /messages/{id}/send'], 1);
		assert.equal(sent[0].json.savedToSent, true);
		const atBob = (await graphList(BOB, 'inbox')).find((m) => m.subject === subject);
		assert.ok(atBob);
		const parsed = await simpleParser(await graphRaw(BOB, atBob.id));
		assert.equal(
			parsed.headers.get('priority'),
			'high',
			'the importance headers survive the draft',
		);
		const files = Object.fromEntries(parsed.attachments.map((a) => [a.filename, a.content]));
		assert.ok(files['scan.bin']?.equals(big), 'the 7 MB file arrives byte for byte');
		assert.equal(files['small.txt']?.toString(), 'small file');
		assert.ok((await graphList(CAROL, 'inbox')).some((m) => m.subject === subject));
		assert.ok(!(await graphList(ALICE, 'drafts')).some((m) => m.subject === subject));
		assert.ok((await graphList(ALICE, 'sentitems')).some((m) => m.subject === subject));
	});

	it('a dropped upload range is sent again and the file still arrives whole', async () => {
		const subject = `resumed ${Date.now()}`;
		const big = randomBytes(4 * 1024 * 1024);
		await graphDrop(1, '^PUT /upload/');
		const counts = await countsDuring(() =>
			action(
				{
					resource: 'message',
					operation: 'send',
					to: BOB,
					subject,
					text: 'resumed',
					options: { attachments: 'big' },
				},
				[binaryItem({ big: { content: big, name: 'big.bin', type: 'application/octet-stream' } })],
			),
		);
		assert.equal(counts.DROPPED, 1);
		const atBob = (await graphList(BOB, 'inbox')).find((m) => m.subject === subject);
		assert.ok(atBob);
		const parsed = await simpleParser(await graphRaw(BOB, atBob.id));
		assert.ok(parsed.attachments[0].content.equals(big));
	});

	it('a failed attachment upload deletes the draft and sends nothing', async () => {
		const subject = `no half mail ${Date.now()}`;
		// The small attachment's POST is not idempotent: a dropped one fails the item, not doubled.
		await graphDrop(1, '^POST /v1.0/.+/messages/[^/]+/attachments$');
		await assert.rejects(
			action(
				{
					resource: 'message',
					operation: 'send',
					to: BOB,
					subject,
					text: 'x',
					options: { attachments: 'big, small' },
				},
				[
					binaryItem({
						big: {
							content: randomBytes(3.5 * 1024 * 1024),
							name: 'b.bin',
							type: 'application/octet-stream',
						},
						small: { content: Buffer.from('s'), name: 's.txt', type: 'text/plain' },
					}),
				],
			),
		);
		assert.ok(!(await graphList(BOB, 'inbox')).some((m) => m.subject === subject));
		assert.ok(!(await graphList(ALICE, 'drafts')).some((m) => m.subject === subject));
	});
});

describe('Graph: drafts', () => {
	it('create draft: one MIME draft in Drafts (Bcc kept), nothing sent; over 3 MB its attachment is uploaded to the draft, which stays unsent, and is read back by the id returned', async () => {
		const subject = `draft ${Date.now()}`;
		let created: INodeExecutionData[] = [];
		const counts = await countsDuring(async () => {
			created = await action({
				resource: 'message',
				operation: 'createDraft',
				to: BOB,
				subject,
				text: 'review me',
				options: { bcc: CAROL },
			});
		});
		assert.equal(counts['POST /messages'], 1, 'one draft');
		assert.equal(counts['POST /sendMail'], undefined);
		assert.equal(counts['POST /messages/{id}/send'], undefined);
		const [draft] = created;
		assert.equal(draft.json.draft, true);
		assert.equal(draft.json.folder, 'Drafts');
		const saved = (await graphList(ALICE, 'drafts')).find((m) => m.subject === subject);
		assert.equal(saved?.id, draft.json.id);
		const parsed = await simpleParser(await graphRaw(ALICE, saved!.id));
		assert.equal((parsed.bcc as { text: string } | undefined)?.text, CAROL);
		assert.equal(parsed.messageId, draft.json.messageId);
		for (const [mailbox, folder] of [
			[BOB, 'inbox'],
			[CAROL, 'inbox'],
			[ALICE, 'sentitems'],
		])
			assert.ok(!(await graphList(mailbox, folder)).some((m) => m.subject === subject));

		const large = `large draft ${Date.now()}`;
		const big = randomBytes(3.5 * 1024 * 1024);
		const bigCounts = await countsDuring(async () => {
			created = await action(
				{
					resource: 'message',
					operation: 'createDraft',
					to: BOB,
					subject: large,
					text: 'a big file',
					options: { attachments: 'big' },
				},
				[binaryItem({ big: { content: big, name: 'scan.bin', type: 'application/octet-stream' } })],
			);
		});
		assert.equal(bigCounts['POST /messages'], 1);
		assert.equal(bigCounts['POST /messages/{id}/attachments/createUploadSession'], 1);
		assert.equal(bigCounts['POST /sendMail'], undefined);
		assert.equal(bigCounts['POST /messages/{id}/send'], undefined);
		assert.ok((await graphList(ALICE, 'drafts')).some((m) => m.id === created[0].json.id));
		assert.ok(!(await graphList(BOB, 'inbox')).some((m) => m.subject === large));
		const [file] = await action({
			resource: 'attachment',
			operation: 'download',
			messageId: String(created[0].json.id),
			prefix: 'f_',
		});
		assert.ok(Buffer.from(file.binary!.f_0.data, 'base64').equals(big), 'the file, byte for byte');
	});

	it('reply with "Save as Draft": the threaded reply is a draft in Drafts, nothing is sent', async () => {
		const subject = `question ${Date.now()}`;
		const id = await graphDeliver(ALICE, {
			subject,
			from: 'Bob <bob@example.test>',
			text: 'Can you check?',
		});
		const original = await simpleParser(await graphRaw(ALICE, id));
		let replied: INodeExecutionData[] = [];
		const counts = await countsDuring(async () => {
			replied = await action({
				resource: 'message',
				operation: 'reply',
				messageId: id,
				text: 'Drafted answer.',
				options: { saveAsDraft: true },
			});
		});
		assert.equal(counts['POST /sendMail'], undefined);
		assert.equal(replied[0].json.draft, true);
		const saved = (await graphList(ALICE, 'drafts')).find((m) => m.subject === `Re: ${subject}`);
		assert.equal(saved?.id, replied[0].json.id);
		const parsed = await simpleParser(await graphRaw(ALICE, saved!.id));
		assert.equal(parsed.inReplyTo, original.messageId);
		assert.match(parsed.text ?? '', /Drafted answer\.[\s\S]*> Can you check\?/);
		assert.ok(!(await graphList(BOB, 'inbox')).some((m) => m.subject === `Re: ${subject}`));
	});
});

describe('Graph: sending a draft', () => {
	it('send draft: one read of the draft and one send; each recipient (Bcc too) gets it once, without a Bcc header, and it moves to Sent Items; the same id again sends nothing', async () => {
		const subject = `send draft ${Date.now()}`;
		const [draft] = await action({
			resource: 'message',
			operation: 'createDraft',
			to: BOB,
			subject,
			text: 'reviewed',
			options: { bcc: CAROL },
		});
		let sent: INodeExecutionData[] = [];
		const counts = await countsDuring(async () => {
			sent = await action({
				resource: 'message',
				operation: 'sendDraft',
				messageId: String(draft.json.id),
			});
		});
		assert.deepEqual(counts, { 'GET /messages/{id}': 1, 'POST /messages/{id}/send': 1 });
		const [result] = sent;
		assert.equal(result.json.draftId, draft.json.id);
		assert.equal(result.json.messageId, draft.json.messageId);
		assert.equal(result.json.subject, subject);
		assert.deepEqual(result.json.to, [BOB]);
		assert.deepEqual(result.json.accepted, [BOB, CAROL]);
		assert.equal(result.json.savedToSent, true);
		assert.equal(result.json.draftRemoved, true);
		const received = async () => ({
			bob: (await graphList(BOB, 'inbox')).filter((m) => m.subject === subject),
			carol: (await graphList(CAROL, 'inbox')).filter((m) => m.subject === subject),
			drafts: (await graphList(ALICE, 'drafts')).filter((m) => m.subject === subject),
			sent: (await graphList(ALICE, 'sentitems')).filter((m) => m.subject === subject),
		});
		const after = await received();
		assert.deepEqual(Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v.length])), {
			bob: 1,
			carol: 1,
			drafts: 0,
			sent: 1,
		});
		for (const [mailbox, message] of [
			[BOB, after.bob[0]],
			[CAROL, after.carol[0]],
		] as const) {
			const parsed = await simpleParser(await graphRaw(mailbox, message.id));
			assert.equal(parsed.bcc, undefined);
			assert.equal(parsed.messageId, draft.json.messageId);
		}
		const again = await countsDuring(async () => {
			await assert.rejects(
				action({ resource: 'message', operation: 'sendDraft', messageId: String(draft.json.id) }),
				(error: Error) => /not found|no longer/i.test(error.message),
			);
		});
		assert.equal(again['POST /messages/{id}/send'], undefined);
		const twice = await received();
		assert.equal(twice.bob.length + twice.carol.length, 2, 'sent once, not twice');
	});

	it('send draft refuses a received message and a draft without recipients before any send', async () => {
		const subject = `received ${Date.now()}`;
		const id = await graphDeliver(ALICE, { subject, from: 'Bob <bob@example.test>', text: 'hi' });
		const unaddressed = `no recipient ${Date.now()}`;
		const [draft] = await action({
			resource: 'message',
			operation: 'createDraft',
			subject: unaddressed,
			text: 'to whom?',
		});
		const counts = await countsDuring(async () => {
			await assert.rejects(
				action({ resource: 'message', operation: 'sendDraft', messageId: id }),
				(error: Error & { description?: string }) =>
					/not a draft/.test(error.message) && /use Forward/.test(error.description ?? ''),
			);
			await assert.rejects(
				action({ resource: 'message', operation: 'sendDraft', messageId: String(draft.json.id) }),
				(error: Error & { description?: string }) =>
					/no recipient/.test(error.message) && /Add To, Cc or Bcc/.test(error.description ?? ''),
			);
		});
		assert.deepEqual(counts, { 'GET /messages/{id}': 2 });
		assert.ok((await graphList(ALICE, 'inbox')).some((m) => m.id === id));
		assert.ok((await graphList(ALICE, 'drafts')).some((m) => m.id === draft.json.id));
	});
});

describe('Graph: reading, renaming, moving and deleting folders', () => {
	/** The requests of a step that change something (every kind but GET). */
	const changesDuring = async (step: () => Promise<unknown>) =>
		Object.fromEntries(
			Object.entries(await countsDuring(step)).filter(([kind]) => !kind.startsWith('GET ')),
		);
	const folderRl = (value: string) => ({ __rl: true, mode: 'path', value });
	const refusedWith = (message: RegExp, fix: RegExp) => (error: Error & { description?: string }) =>
		message.test(error.message) && fix.test(error.description ?? '');

	it('get reads the folder with its counts in one request (totalItemCount, unreadItemCount)', async () => {
		const folder = await freshGraphFolder('g-count');
		const id = await graphFolder(ALICE, folder);
		const read = await graphDeliver(ALICE, { subject: 'read' }, folder);
		await graphDeliver(ALICE, { subject: 'new 1' }, folder);
		await graphDeliver(ALICE, { subject: 'new 2' }, folder);
		await action({ resource: 'message', operation: 'markAsRead', messageId: read });
		let item: INodeExecutionData[] = [];
		const counts = await countsDuring(async () => {
			item = await action({ resource: 'folder', operation: 'get', folder: folderRl(folder) });
		});
		assert.equal(counts['GET /mailFolders/{id}'], 1);
		assert.deepEqual(item[0].json, {
			mailbox: ALICE,
			path: folder,
			name: folder.split('/')[1],
			id,
			wellKnownName: null,
			totalItemCount: 3,
			unreadItemCount: 2,
		});
	});

	it('rename is one PATCH of displayName: the folder keeps its id, mail and subfolders; a taken name, a bad name or an Outlook folder is refused with no change sent', async () => {
		const folder = await freshGraphFolder('g-ren');
		const id = await graphFolder(ALICE, folder);
		await graphDeliver(ALICE, { subject: 'one' }, folder);
		await graphDeliver(ALICE, { subject: 'two' }, folder);
		await graphFolder(ALICE, `${folder}/Sub`);
		await graphDeliver(ALICE, { subject: 'three' }, `${folder}/Sub`);
		const newName = `Renamed-${randomUUID().slice(0, 8)}`;
		const rename = (value: string, name: string) =>
			action({ resource: 'folder', operation: 'rename', folder: folderRl(value), newName: name });
		let renamed: INodeExecutionData[] = [];
		const changes = await changesDuring(async () => {
			renamed = await rename(folder, newName);
		});
		assert.deepEqual(changes, { 'PATCH /mailFolders/{id}': 1 });
		assert.deepEqual(renamed[0].json, {
			mailbox: ALICE,
			path: `Inbox/${newName}`,
			name: newName,
			id,
			previousPath: folder,
		});
		assert.equal((await graphList(ALICE, `Inbox/${newName}`)).length, 2);
		assert.equal((await graphList(ALICE, `Inbox/${newName}/Sub`)).length, 1);

		const other = await freshGraphFolder('g-taken');
		const refusals = await changesDuring(async () => {
			const at = `Inbox/${newName}`;
			const taken = other.split('/')[1].toUpperCase();
			await assert.rejects(
				rename(at, taken),
				refusedWith(/already exists beside/, /Choose another name/),
			);
			await assert.rejects(rename(at, 'a/b'), refusedWith(/has "\/" in it/, /without "\/"/));
			await assert.rejects(
				rename(at, 'bad\u0000name'),
				refusedWith(/control character/, /Remove it/),
			);
			await assert.rejects(
				rename('Inbox', 'Post'),
				refusedWith(/Inbox folder, which cannot be renamed/, /Pick a folder you created/),
			);
			await assert.rejects(
				rename('junkemail', 'Spam'),
				refusedWith(/Junk Email folder/, /Pick a folder you created/),
			);
		});
		assert.deepEqual(refusals, {}, 'nothing was sent to change a folder');
		assert.equal((await graphList(ALICE, `Inbox/${newName}`)).length, 2);
	});

	it('move is one folder move into the destination, or to the top of the mailbox: the folder keeps its id, name, mail and subfolders; into itself or its own subfolder, onto a taken name, or an Outlook folder is refused with no change sent', async () => {
		const folder = await freshGraphFolder('g-mov');
		const leaf = folder.split('/')[1];
		const id = await graphFolder(ALICE, folder);
		await graphDeliver(ALICE, { subject: 'one' }, folder);
		await graphFolder(ALICE, `${folder}/Sub`);
		await graphDeliver(ALICE, { subject: 'two' }, `${folder}/Sub`);
		const into = await freshGraphFolder('g-into');
		const move = (value: string, destination: string) =>
			action({
				resource: 'folder',
				operation: 'move',
				folder: folderRl(value),
				destination: folderRl(destination),
			});
		let moved: INodeExecutionData[] = [];
		const moves = await changesDuring(async () => {
			moved = await move(folder, into);
		});
		assert.deepEqual(moves, { 'POST /mailFolders/{id}/move': 1 });
		assert.deepEqual(moved[0].json, {
			mailbox: ALICE,
			path: `${into}/${leaf}`,
			name: leaf,
			id,
			previousPath: folder,
		});
		assert.equal((await graphList(ALICE, `${into}/${leaf}`)).length, 1);
		assert.equal((await graphList(ALICE, `${into}/${leaf}/Sub`)).length, 1);

		await graphFolder(ALICE, folder);
		const here = `${into}/${leaf}`;
		const refusals = await changesDuring(async () => {
			await assert.rejects(
				move(here, here),
				refusedWith(/cannot be moved into itself/, /outside the folder/),
			);
			await assert.rejects(
				move(here, `${here}/Sub`),
				refusedWith(/into its own subfolder/, /outside the folder/),
			);
			await assert.rejects(
				move(folder, into),
				refusedWith(/already has a folder named/, /Rename one of the two/),
			);
			await assert.rejects(
				move('Inbox', into),
				refusedWith(/Inbox folder, which cannot be moved/, /where they are/),
			);
		});
		assert.deepEqual(refusals, {}, 'nothing was sent to change a folder');

		// To the top of the mailbox (msgfolderroot), beside Inbox, with the same id.
		const toTop = (value: string) =>
			action({ resource: 'folder', operation: 'move', folder: folderRl(value), toTop: true });
		let top: INodeExecutionData[] = [];
		const tops = await changesDuring(async () => {
			top = await toTop(here);
		});
		assert.deepEqual(tops, { 'POST /mailFolders/{id}/move': 1 });
		assert.deepEqual([top[0].json.path, top[0].json.id], [leaf, id]);
		assert.equal((await graphList(ALICE, leaf)).length, 1);
		assert.equal((await graphList(ALICE, `${leaf}/Sub`)).length, 1);
		const again = await changesDuring(async () => {
			await assert.rejects(
				toTop(folder),
				refusedWith(/The top of the mailbox already has a folder named/, /Rename one of the two/),
			);
		});
		assert.deepEqual(again, {}, 'nothing was sent to change a folder');
		await action({
			resource: 'folder',
			operation: 'delete',
			folder: folderRl(leaf),
			permanent: true,
		});
	});

	it('delete is one folder move to Deleted Items (mail and subfolders with it); from there only Delete Permanently removes it, with one permanentDelete; a name taken there or an Outlook folder is refused with no change sent', async () => {
		const folder = await freshGraphFolder('g-gone');
		const leaf = folder.split('/')[1];
		await graphDeliver(ALICE, { subject: 'one' }, folder);
		await graphFolder(ALICE, `${folder}/Sub`);
		await graphDeliver(ALICE, { subject: 'two' }, `${folder}/Sub`);
		const remove = (value: string, permanent: boolean) =>
			action({ resource: 'folder', operation: 'delete', folder: folderRl(value), permanent });
		let moved: INodeExecutionData[] = [];
		const moves = await changesDuring(async () => {
			moved = await remove(folder, false);
		});
		assert.deepEqual(moves, { 'POST /mailFolders/{id}/move': 1 });
		assert.equal(moved[0].json.movedTo, `Deleted Items/${leaf}`);
		assert.equal((await graphList(ALICE, `Deleted Items/${leaf}`)).length, 1);
		assert.equal((await graphList(ALICE, `Deleted Items/${leaf}/Sub`)).length, 1);
		await assert.rejects(graphList(ALICE, folder), 'no longer in the Inbox');

		const twin = `Inbox/${leaf}`;
		await graphFolder(ALICE, twin);
		const refusals = await changesDuring(async () => {
			await assert.rejects(
				remove(`Deleted Items/${leaf}`, false),
				refusedWith(/already in Deleted Items/, /Delete Permanently/),
			);
			await assert.rejects(
				remove(twin, false),
				refusedWith(/already has a folder named/, /Rename this folder first/),
			);
			for (const wellKnown of ['Inbox', 'Deleted Items', 'sentitems'])
				for (const permanent of [false, true])
					await assert.rejects(
						remove(wellKnown, permanent),
						refusedWith(/cannot be deleted/, /Pick a folder you created/),
					);
		});
		assert.deepEqual(refusals, {}, 'nothing was sent to change a folder');

		let gone: INodeExecutionData[] = [];
		const purge = await changesDuring(async () => {
			gone = await remove(`Deleted Items/${leaf}`, true);
		});
		assert.deepEqual(purge, { 'POST /mailFolders/{id}/permanentDelete': 1 });
		assert.equal(gone[0].json.permanent, true);
		assert.equal(gone[0].json.movedTo, undefined);
		await assert.rejects(graphList(ALICE, `Deleted Items/${leaf}`));
		await assert.rejects(graphList(ALICE, `Deleted Items/${leaf}/Sub`));
		assert.deepEqual(await graphList(ALICE, twin), [], 'the other folder stays');
	});
});

describe('Graph: dropped connections', () => {
	it('a poll whose requests lose their connection retries them and emits each message once', async () => {
		const folder = await freshGraphFolder('g-drop');
		const trigger = triggerNode(folder, {}, 'alice', 'graph');
		const state: IDataObject = {};
		await pollTrigger(trigger, store, state);
		await graphDeliver(ALICE, { subject: 'd1' }, folder);
		await graphDeliver(ALICE, { subject: 'd2' }, folder);
		await graphDrop(2);
		const items = await pollTrigger(trigger, store, state);
		assert.deepEqual(
			items.map((i) => i.json.subject),
			['d1', 'd2'],
		);
		assert.deepEqual(await pollTrigger(trigger, store, state), []);
	});

	it('a send whose connection drops is not sent again (it could duplicate mail): a clear error', async () => {
		const subject = `dropped send ${Date.now()}`;
		await graphDrop(1, '^POST /v1.0/.+/sendMail$');
		await assert.rejects(
			action({ resource: 'message', operation: 'send', to: BOB, subject, text: 'x' }),
			(e: Error & { description?: string }) => !/at .+\.ts:\d+/.test(e.message),
		);
		const counts = await graphCounts();
		assert.ok(counts.DROPPED >= 1);
		assert.ok(!(await graphList(BOB, 'inbox')).some((m) => m.subject === subject));
	});
});

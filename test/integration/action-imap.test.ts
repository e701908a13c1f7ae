import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import type { IDataObject, INodeExecutionData, INodeParameters } from 'n8n-workflow';
import { simpleParser } from 'mailparser';

import {
	CredentialStore,
	pollTrigger,
	runActionNode,
	searchFolderList,
	type HarnessNode,
} from '../harness/n8n';
import { appendMails, freshFolder, ImapTlsProxy, listFolder, testImap } from '../harness/mail';
import { appOnlyCredential, delegatedCredential, IMAP_SCOPES, signIn } from '../harness/stack';

const store = new CredentialStore();

function action(
	parameters: INodeParameters,
	credential = 'alice',
	extra: Partial<HarnessNode> = {},
): HarnessNode {
	return {
		parameters: {
			authentication: credential === 'app' ? 'appOnly' : 'delegated',
			protocol: 'imap',
			mailbox: '',
			...parameters,
		},
		credentials:
			credential === 'app' ? { m365MailAppOnlyApi: 'app' } : { m365MailOAuth2Api: credential },
		...extra,
	};
}

async function run(
	parameters: INodeParameters,
	items?: INodeExecutionData[],
	credential = 'alice',
) {
	return (await runActionNode(action(parameters, credential), store, items))[0];
}

/** The raw messages in a folder whose subject matches, parsed. */
async function readBack(mailbox: string, folder: string, subject: string) {
	const client = await testImap(mailbox);
	try {
		const lock = await client.getMailboxLock(folder, { readOnly: true });
		try {
			const uids = await client.search({ subject }, { uid: true });
			if (!uids || !uids.length) return [];
			const messages = await client.fetchAll(uids, { source: true, flags: true }, { uid: true });
			return await Promise.all(
				messages.map(async (m) => ({
					parsed: await simpleParser(m.source!),
					flags: [...(m.flags ?? [])],
				})),
			);
		} finally {
			lock.release();
		}
	} finally {
		await client.logout();
	}
}

/** A draft to Bob saved with Create Draft. */
async function draftToBob(subject: string, credential: string) {
	const draft = { resource: 'message', operation: 'createDraft', to: 'bob@example.test', subject };
	return await run({ ...draft, text: 'x' }, undefined, credential);
}

/** Alice's credential through a proxy in front of Dovecot (ImapTlsProxy), for one test. */
async function throughProxy(
	work: (proxy: ImapTlsProxy, credential: string) => Promise<void>,
): Promise<void> {
	const proxy = new ImapTlsProxy();
	await proxy.start();
	try {
		const data = await signIn('alice@example.test', IMAP_SCOPES);
		store.set('alice-proxy', delegatedCredential(data, { customImapPort: proxy.port }));
		await work(proxy, 'alice-proxy');
	} finally {
		await proxy.stop();
	}
}

/** One message in a fresh folder of alice's mailbox; returns its id as the trigger emits it. */
async function oneMessage(prefix: string, mail: Parameters<typeof appendMails>[1][number]) {
	const folder = await freshFolder(prefix);
	const state: IDataObject = {};
	const trigger = {
		parameters: {
			authentication: 'delegated',
			mailbox: '',
			folder: { __rl: true, mode: 'path', value: folder },
			startFrom: 'existing',
			maxMessages: 50,
		},
		credentials: { m365MailOAuth2Api: 'alice' },
	};
	await appendMails(folder, [mail]);
	const [item] = await pollTrigger(trigger, store, state);
	return { folder, id: String(item.json.id), json: item.json };
}

const folderRl = (value: string) => ({ __rl: true, mode: 'path', value });

/** Every folder path of alice's mailbox, as Folder > Get Many lists them. */
async function folderPaths(): Promise<string[]> {
	const items = await run({ resource: 'folder', operation: 'getAll', returnAll: true });
	return items.map((i) => String(i.json.path));
}

/** A fresh folder with two messages, and a subfolder "Sub" with one. */
async function folderWithSub(prefix: string): Promise<string> {
	const folder = await freshFolder(prefix);
	await appendMails(folder, [{ subject: 'One' }, { subject: 'Two' }]);
	await run({ resource: 'folder', operation: 'create', path: `${folder}/Sub` });
	await appendMails(`${folder}/Sub`, [{ subject: 'Three' }]);
	return folder;
}

/** An error check: the node's error says `message`, and its description the fix. */
const refusedWith = (message: RegExp, fix: RegExp) => (error: Error & { description?: string }) =>
	message.test(error.message) && fix.test(error.description ?? '');

const textBinary = (text: string, fileName: string, mimeType = 'text/plain') => ({
	data: Buffer.from(text).toString('base64'),
	mimeType,
	fileName,
});

before(async () => {
	store.set('alice', delegatedCredential(await signIn('alice@example.test', IMAP_SCOPES)));
	store.set('carol', delegatedCredential(await signIn('carol@example.test', IMAP_SCOPES)));
	store.set('app', appOnlyCredential());
});

describe('action node over IMAP + SMTP: sending', () => {
	it('sends with cc, bcc, HTML, importance, a custom header and a binary attachment; the recipient reads it back', async () => {
		const subject = `Quarterly ${Date.now()}`;
		const [result] = await run(
			{
				resource: 'message',
				operation: 'send',
				to: 'bob@example.test',
				subject,
				text: 'See attached.',
				options: {
					cc: 'shared@example.test',
					bcc: 'carol@example.test',
					html: '<p>See <b>attached</b>.</p>',
					importance: 'high',
					attachments: 'report',
					fromName: 'Alice A.',
					customHeaders: { header: [{ name: 'X-Ticket-ID', value: 'T-42' }] },
				},
			},
			[{ json: {}, binary: { report: textBinary('a,b\n1,2\n', 'report.csv', 'text/csv') } }],
		);
		assert.equal(result.json.from, 'alice@example.test');
		assert.deepEqual(result.json.rejected, []);
		assert.deepEqual(result.pairedItem, { item: 0 });
		const [received] = await readBack('bob@example.test', 'INBOX', subject);
		const mail = received.parsed;
		assert.equal(mail.from?.text, '"Alice A." <alice@example.test>');
		assert.equal(mail.headers.get('x-ticket-id'), 'T-42');
		assert.equal(mail.headers.get('priority'), 'high');
		assert.ok(mail.headerLines.some((h) => /^X-Priority: 1/i.test(h.line)));
		assert.equal(mail.text?.trim(), 'See attached.');
		assert.match(String(mail.html), /<b>attached<\/b>/);
		assert.equal(mail.attachments[0].filename, 'report.csv');
		assert.equal(mail.attachments[0].content.toString(), 'a,b\n1,2\n');
		assert.equal(mail.headers.get('bcc'), undefined, 'Bcc is not in the headers');
		assert.equal(
			(await readBack('carol@example.test', 'INBOX', subject)).length,
			1,
			'Bcc recipient got it',
		);
		assert.equal(
			(await readBack('alice@example.test', 'Sent Items', subject)).length,
			1,
			'Exchange-style copy in Sent Items',
		);
	});

	it('"Append to Sent Items" saves a copy over IMAP for servers that do not', async () => {
		const subject = `Appended ${Date.now()}`;
		const [result] = await run({
			resource: 'message',
			operation: 'send',
			to: 'bob@example.test',
			subject,
			text: 'x',
			options: { appendToSent: true },
		});
		assert.equal(result.json.savedToSent, true);
		const copies = await readBack('alice@example.test', 'Sent Items', subject);
		assert.equal(copies.length, 2);
		assert.ok(copies.some((c) => c.flags.includes('\\Seen')));
	});

	it('SMTP AUTH disabled for the mailbox: 535 with the Set-CASMailbox fix', async () => {
		await assert.rejects(
			run(
				{ resource: 'message', operation: 'send', to: 'bob@example.test', subject: 'x', text: 'x' },
				undefined,
				'carol',
			),
			(error: Error & { description?: string }) =>
				/535/.test(error.message) &&
				/SmtpClientAuthenticationDisabled/.test(error.description ?? ''),
		);
	});

	it('sending as a shared mailbox without Send As is refused with the Send As fix', async () => {
		await assert.rejects(
			run({
				resource: 'message',
				operation: 'send',
				mailbox: 'shared@example.test',
				to: 'bob@example.test',
				subject: 'x',
				text: 'x',
			}),
			(error: Error & { description?: string }) => /Send As/.test(error.description ?? ''),
		);
	});

	it('app-only credentials send from the mailbox granted to the app', async () => {
		const subject = `From the app ${Date.now()}`;
		await run(
			{
				resource: 'message',
				operation: 'send',
				mailbox: 'shared@example.test',
				to: 'bob@example.test',
				subject,
				text: 'x',
			},
			undefined,
			'app',
		);
		const [received] = await readBack('bob@example.test', 'INBOX', subject);
		assert.equal(received.parsed.from?.value[0].address, 'shared@example.test');
	});

	it('reply to all threads the reply, quotes the original and marks it answered', async () => {
		const subject = `Question ${Date.now()}`;
		const { id, folder, json } = await oneMessage('reply', {
			subject,
			from: 'Bob <bob@example.test>',
			to: 'alice@example.test, carol@example.test',
			cc: 'shared@example.test',
			text: 'Can you check?',
		});
		const [result] = await run({
			resource: 'message',
			operation: 'reply',
			messageId: id,
			replyAll: true,
			text: 'Checked.',
		});
		assert.deepEqual(result.json.to, ['bob@example.test']);
		assert.deepEqual(result.json.cc, ['carol@example.test', 'shared@example.test']);
		const [received] = await readBack('bob@example.test', 'INBOX', `Re: ${subject}`);
		assert.equal(received.parsed.inReplyTo, json.messageId);
		assert.match(
			String(received.parsed.references),
			new RegExp(String(json.messageId).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
		);
		assert.match(received.parsed.text ?? '', /Checked\.[\s\S]*> Can you check\?/);
		assert.ok((await listFolder(folder))[0].flags.includes('\\Answered'));
	});

	it('reply skips automated mail (auto-replies, lists, bounces) unless told otherwise; nothing is sent', async () => {
		const automated: Array<Record<string, string>> = [
			{ 'Auto-Submitted': 'auto-replied' },
			{ Precedence: 'bulk' },
			{ 'List-Id': '<news.example.test>' },
		];
		for (const headers of automated) {
			const subject = `Automated ${Object.keys(headers)[0]} ${Date.now()}`;
			const { id } = await oneMessage('auto', { subject, from: 'bob@example.test', headers });
			const [result] = await run({
				resource: 'message',
				operation: 'reply',
				messageId: id,
				text: 'Thanks!',
			});
			assert.equal(result.json.skipped, true);
			assert.match(String(result.json.reason), new RegExp(Object.keys(headers)[0]));
			assert.deepEqual(await readBack('bob@example.test', 'INBOX', `Re: ${subject}`), []);
		}
		const subject = `Automated but wanted ${Date.now()}`;
		const { id } = await oneMessage('auto', {
			subject,
			from: 'bob@example.test',
			headers: { 'Auto-Submitted': 'auto-generated' },
		});
		const [sent] = await run({
			resource: 'message',
			operation: 'reply',
			messageId: id,
			text: 'Replying anyway',
			options: { skipAutomated: false },
		});
		assert.notEqual(sent.json.skipped, true);
		assert.equal((await readBack('bob@example.test', 'INBOX', `Re: ${subject}`)).length, 1);
	});

	it('create draft saves the message in Drafts as a draft (\\Draft, Bcc kept for the send from Outlook, its attachment) and sends nothing; Get reads it by the id it returns', async () => {
		const subject = `Draft ${Date.now()}`;
		const [result] = await run(
			{
				resource: 'message',
				operation: 'createDraft',
				to: 'bob@example.test',
				subject,
				text: 'For review.',
				options: { bcc: 'carol@example.test', attachments: 'report', fromName: 'Alice A.' },
			},
			[{ json: {}, binary: { report: textBinary('a,b\n1,2\n', 'report.csv', 'text/csv') } }],
		);
		assert.equal(result.json.draft, true);
		assert.equal(result.json.folder, 'Drafts');
		assert.deepEqual(result.json.to, ['bob@example.test']);
		assert.deepEqual(result.pairedItem, { item: 0 });
		const saved = await readBack('alice@example.test', 'Drafts', subject);
		assert.equal(saved.length, 1, 'one draft');
		const [{ parsed, flags }] = saved;
		assert.ok(flags.includes('\\Draft'), `flags: ${flags.join(' ')}`);
		assert.equal(parsed.messageId, result.json.messageId);
		assert.equal(parsed.from?.text, '"Alice A." <alice@example.test>');
		assert.equal((parsed.bcc as { text: string } | undefined)?.text, 'carol@example.test');
		assert.equal(parsed.attachments[0].content.toString(), 'a,b\n1,2\n');
		for (const [mailbox, folder] of [
			['bob@example.test', 'INBOX'],
			['carol@example.test', 'INBOX'],
			['alice@example.test', 'Sent Items'],
		])
			assert.deepEqual(
				await readBack(mailbox, folder, subject),
				[],
				`nothing in ${folder} of ${mailbox}`,
			);
		const [again] = await run({
			resource: 'message',
			operation: 'get',
			messageId: String(result.json.id),
		});
		assert.equal(again.json.subject, subject);
		assert.equal(again.json.text, 'For review.');
	});

	it('send draft sends the saved draft as it is, once (Bcc in the envelope, not the headers), and it leaves Drafts; the same id again sends nothing', async () => {
		const subject = `Send draft ${Date.now()}`;
		const [draft] = await run(
			{
				resource: 'message',
				operation: 'createDraft',
				to: 'bob@example.test',
				subject,
				text: 'Reviewed and sent.',
				options: { bcc: 'carol@example.test', attachments: 'report' },
			},
			[{ json: {}, binary: { report: textBinary('a,b\n1,2\n', 'report.csv', 'text/csv') } }],
		);
		const draftId = String(draft.json.id);
		const [sent] = await run({ resource: 'message', operation: 'sendDraft', messageId: draftId });
		assert.equal(sent.json.draftId, draftId);
		assert.equal(sent.json.messageId, draft.json.messageId);
		assert.equal(sent.json.subject, subject);
		assert.deepEqual(sent.json.to, ['bob@example.test']);
		assert.deepEqual((sent.json.accepted as string[]).sort(), [
			'bob@example.test',
			'carol@example.test',
		]);
		assert.equal(sent.json.draftRemoved, true);
		assert.deepEqual(sent.pairedItem, { item: 0 });
		const counts = async () => ({
			bob: await readBack('bob@example.test', 'INBOX', subject),
			carol: await readBack('carol@example.test', 'INBOX', subject),
			drafts: await readBack('alice@example.test', 'Drafts', subject),
			sent: await readBack('alice@example.test', 'Sent Items', subject),
		});
		const after = await counts();
		assert.deepEqual(Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v.length])), {
			bob: 1,
			carol: 1,
			drafts: 0,
			sent: 1,
		});
		for (const { parsed, flags } of [...after.bob, ...after.carol]) {
			assert.equal(parsed.messageId, draft.json.messageId);
			assert.equal(parsed.bcc, undefined, 'no Bcc header reaches a recipient');
			assert.ok(!/^bcc:/im.test(parsed.headerLines.map((h) => h.line).join('\n')));
			assert.equal(parsed.text?.trim(), 'Reviewed and sent.');
			assert.equal(parsed.attachments[0].content.toString(), 'a,b\n1,2\n');
			assert.ok(!flags.includes('\\Draft'));
		}
		await assert.rejects(
			run({ resource: 'message', operation: 'sendDraft', messageId: draftId }),
			(error: Error) => /not found/.test(error.message),
		);
		const again = await counts();
		assert.equal(again.bob.length + again.carol.length, 2, 'sent once, not twice');
	});

	it('send draft whose delete from Drafts fails once the mail is out: the item succeeds and says the draft stayed (draftRemoved false); nothing is sent twice', async () => {
		await throughProxy(async (proxy, credential) => {
			const subject = `Draft kept ${Date.now()}`;
			const [draft] = await draftToBob(subject, credential);
			// The delete's STORE of \Deleted loses its connection, as a crash would.
			proxy.dropOn('UID STORE');
			const [sent] = await run(
				{ resource: 'message', operation: 'sendDraft', messageId: String(draft.json.id) },
				undefined,
				credential,
			);
			assert.equal(proxy.dropped, 1, 'the delete was cut off');
			assert.equal(sent.json.draftRemoved, false);
			assert.equal(sent.json.messageId, draft.json.messageId);
			assert.equal((await readBack('bob@example.test', 'INBOX', subject)).length, 1);
			assert.equal((await readBack('alice@example.test', 'Drafts', subject)).length, 1);
		});
	});

	it('create draft on a server that does not say where the draft went (no APPENDUID): saved once, the item has no id, nothing sent', async () => {
		await throughProxy(async (proxy, credential) => {
			proxy.withoutAppendUid = true;
			const subject = `Draft without uid ${Date.now()}`;
			const [draft] = await draftToBob(subject, credential);
			assert.equal(proxy.appendUidsLeftOut, 1);
			assert.equal(draft.json.id, undefined);
			assert.equal(draft.json.folder, 'Drafts');
			assert.equal(draft.json.draft, true);
			const saved = await readBack('alice@example.test', 'Drafts', subject);
			assert.equal(saved.length, 1, 'saved once');
			assert.equal(saved[0].parsed.messageId, draft.json.messageId);
			assert.deepEqual(await readBack('bob@example.test', 'INBOX', subject), []);
		});
	});

	it('send draft sends a message in Drafts that its server shows without \\Draft (as a draft saved by another client may be), once', async () => {
		const subject = `Unflagged draft ${Date.now()}`;
		await appendMails(
			'Drafts',
			[{ subject, from: 'alice@example.test', to: 'bob@example.test', text: 'saved elsewhere' }],
			'alice@example.test',
			['\\Seen'],
		);
		const [found] = await run({
			resource: 'message',
			operation: 'getAll',
			folder: { __rl: true, mode: 'path', value: 'Drafts' },
			returnAll: true,
			filters: { search: subject },
		});
		assert.ok(!(found.json.flags as string[]).includes('\\Draft'));
		const [sent] = await run({
			resource: 'message',
			operation: 'sendDraft',
			messageId: String(found.json.id),
		});
		assert.equal(sent.json.draftRemoved, true);
		assert.equal((await readBack('bob@example.test', 'INBOX', subject)).length, 1);
		assert.deepEqual(await readBack('alice@example.test', 'Drafts', subject), []);
	});

	it('send draft refuses a message that is not a draft, and a draft without recipients, and sends nothing', async () => {
		const subject = `Not a draft ${Date.now()}`;
		const { id, folder } = await oneMessage('notdraft', { subject, text: 'Received mail' });
		await assert.rejects(
			run({ resource: 'message', operation: 'sendDraft', messageId: id }),
			(error: Error & { description?: string }) =>
				/not a draft/.test(error.message) && /use Forward/.test(error.description ?? ''),
		);
		assert.equal((await listFolder(folder)).length, 1, 'the message stays');
		const unaddressed = `No recipient ${Date.now()}`;
		const [draft] = await run({
			resource: 'message',
			operation: 'createDraft',
			subject: unaddressed,
			text: 'To whom?',
		});
		await assert.rejects(
			run({ resource: 'message', operation: 'sendDraft', messageId: String(draft.json.id) }),
			(error: Error & { description?: string }) =>
				/no recipient/.test(error.message) && /Add To, Cc or Bcc/.test(error.description ?? ''),
		);
		assert.equal((await readBack('alice@example.test', 'Drafts', unaddressed)).length, 1);
		for (const s of [subject, unaddressed])
			assert.deepEqual(await readBack('alice@example.test', 'Sent Items', s), []);
	});

	it('reply with "Save as Draft" saves the threaded reply in Drafts and sends nothing; the original is not marked answered', async () => {
		const subject = `Draft reply ${Date.now()}`;
		const { id, folder, json } = await oneMessage('draftreply', {
			subject,
			from: 'Bob <bob@example.test>',
			text: 'Can you check?',
		});
		const [result] = await run({
			resource: 'message',
			operation: 'reply',
			messageId: id,
			text: 'Drafted answer.',
			options: { saveAsDraft: true },
		});
		assert.equal(result.json.draft, true);
		assert.deepEqual(result.json.to, ['bob@example.test']);
		assert.equal(result.json.inReplyTo, json.messageId);
		const [saved] = await readBack('alice@example.test', 'Drafts', `Re: ${subject}`);
		assert.ok(saved.flags.includes('\\Draft'));
		assert.equal(saved.parsed.inReplyTo, json.messageId);
		assert.equal((saved.parsed.to as { text: string } | undefined)?.text, 'bob@example.test');
		assert.match(saved.parsed.text ?? '', /Drafted answer\.[\s\S]*> Can you check\?/);
		assert.deepEqual(await readBack('bob@example.test', 'INBOX', `Re: ${subject}`), []);
		assert.ok(!(await listFolder(folder))[0].flags.includes('\\Answered'));
	});

	it('forward carries the original attachments, sent or, with "Save as Draft", left in Drafts unsent', async () => {
		for (const saveAsDraft of [false, true]) {
			const subject = `Contract ${saveAsDraft ? 'draft ' : ''}${Date.now()}`;
			const { id } = await oneMessage('forward', {
				subject,
				attachments: [{ filename: 'contract.txt', content: 'terms' }],
			});
			const [result] = await run({
				resource: 'message',
				operation: 'forward',
				messageId: id,
				to: 'bob@example.test',
				text: 'FYI',
				options: { saveAsDraft },
			});
			const [mailbox, folder] = saveAsDraft
				? ['alice@example.test', 'Drafts']
				: ['bob@example.test', 'INBOX'];
			const [received] = await readBack(mailbox, folder, `Fw: ${subject}`);
			assert.deepEqual(
				received.parsed.attachments.map((a) => [a.filename, a.content.toString()]),
				[['contract.txt', 'terms']],
			);
			assert.match(received.parsed.text ?? '', /FYI[\s\S]*Forwarded message/);
			assert.equal(received.flags.includes('\\Draft'), saveAsDraft);
			assert.equal(result.json.draft, saveAsDraft || undefined);
			if (saveAsDraft)
				assert.deepEqual(await readBack('bob@example.test', 'INBOX', `Fw: ${subject}`), []);
		}
	});
});

describe('action node over IMAP: reading and changing messages', () => {
	it('get returns the message by the trigger’s id, in simple and raw output', async () => {
		const { id } = await oneMessage('get', { subject: 'Get me', text: 'hello' });
		const [simple] = await run({
			resource: 'message',
			operation: 'get',
			messageId: id,
			output: 'simple',
		});
		assert.equal(simple.json.subject, 'Get me');
		assert.equal(simple.json.text, 'hello');
		assert.equal(simple.json.id, id);
		const [raw] = await run({
			resource: 'message',
			operation: 'get',
			messageId: id,
			output: 'raw',
		});
		assert.match(Buffer.from(raw.binary!.raw.data, 'base64').toString(), /Subject: Get me/);
	});

	it('get many: newest first, filters, unread only, limit', async () => {
		const folder = await freshFolder('search');
		await appendMails(folder, [
			{ subject: 'Order 1', from: 'shop@store.test' },
			{ subject: 'Order 2', from: 'shop@store.test' },
			{ subject: 'Newsletter', from: 'news@store.test' },
		]);
		await appendMails(folder, [{ subject: 'Order 3 (read)', from: 'shop@store.test' }], undefined, [
			'\\Seen',
		]);
		const base = {
			resource: 'message',
			operation: 'getAll',
			folder: { __rl: true, mode: 'path', value: folder },
		};
		const subjectsOf = (items: INodeExecutionData[]) => items.map((i) => i.json.subject);
		assert.deepEqual(subjectsOf(await run({ ...base, returnAll: true })), [
			'Order 3 (read)',
			'Newsletter',
			'Order 2',
			'Order 1',
		]);
		assert.deepEqual(
			subjectsOf(
				await run({ ...base, returnAll: true, filters: { from: 'shop@', unreadOnly: true } }),
			),
			['Order 2', 'Order 1'],
		);
		assert.deepEqual(
			subjectsOf(
				await run({ ...base, returnAll: false, limit: 1, filters: { subjectContains: 'order' } }),
			),
			['Order 3 (read)'],
		);
		assert.deepEqual(
			subjectsOf(
				await run({ ...base, returnAll: true, filters: { receivedAfter: '2999-01-01T00:00:00Z' } }),
			),
			[],
		);
	});

	it('get many with Search runs IMAP SEARCH TEXT: words in the body count, not only the subject', async () => {
		const folder = await freshFolder('text');
		await appendMails(folder, [
			{ subject: 'Monthly statement', text: 'Your invoice number is INV-7731.' },
			{ subject: 'Lunch', text: 'Pizza at noon?' },
		]);
		const items = await run({
			resource: 'message',
			operation: 'getAll',
			folder: { __rl: true, mode: 'path', value: folder },
			returnAll: true,
			filters: { search: 'INV-7731' },
		});
		assert.deepEqual(
			items.map((i) => i.json.subject),
			['Monthly statement'],
		);
	});

	it('move returns the new id; the old id then fails with a clear error; copy keeps the original', async () => {
		const { id, folder } = await oneMessage('move', { subject: 'Move me' });
		const target = await freshFolder('target');
		const [copied] = await run({
			resource: 'message',
			operation: 'copy',
			messageId: id,
			destination: { __rl: true, mode: 'path', value: target },
		});
		assert.equal(copied.json.folder, target);
		const [moved] = await run({
			resource: 'message',
			operation: 'move',
			messageId: id,
			destination: { __rl: true, mode: 'list', value: target },
		});
		assert.equal(moved.json.movedFrom, id);
		assert.deepEqual(
			(await listFolder(target)).map((m) => m.subject),
			['Move me', 'Move me'],
		);
		assert.deepEqual(await listFolder(folder), []);
		const [again] = await run({
			resource: 'message',
			operation: 'get',
			messageId: String(moved.json.id),
		});
		assert.equal(again.json.subject, 'Move me');
		await assert.rejects(
			run({ resource: 'message', operation: 'get', messageId: id }),
			(error: Error & { description?: string }) =>
				/not found/.test(error.message) && /new id/.test(error.description ?? ''),
		);
	});

	it('mark as read / unread and flag / unflag the message the trigger emitted', async () => {
		const { id, folder } = await oneMessage('flags', { subject: 'Flags' });
		const [read] = await run({ resource: 'message', operation: 'markAsRead', messageId: id });
		assert.equal(read.json.isRead, true);
		const [flagged] = await run({ resource: 'message', operation: 'flag', messageId: id });
		assert.equal(flagged.json.isFlagged, true);
		assert.deepEqual((await listFolder(folder))[0].flags.sort(), ['\\Flagged', '\\Seen']);
		await run({ resource: 'message', operation: 'markAsUnread', messageId: id });
		const [unflagged] = await run({ resource: 'message', operation: 'unflag', messageId: id });
		assert.equal(unflagged.json.isFlagged, false);
		assert.equal(unflagged.json.isRead, false);
		assert.deepEqual((await listFolder(folder))[0].flags, []);
	});

	it('categories, a due date and "complete" are Graph-only: the error names the Graph setting, nothing changes', async () => {
		const { id, folder } = await oneMessage('graph-only', { subject: 'Graph only' });
		const graphFix = (e: Error & { description?: string }) =>
			/needs Microsoft Graph/.test(e.message) &&
			/Access "Microsoft Graph"/.test(e.description ?? '');
		await assert.rejects(
			run({ resource: 'message', operation: 'setCategories', messageId: id, categories: 'Red' }),
			graphFix,
		);
		await assert.rejects(
			run({ resource: 'message', operation: 'complete', messageId: id }),
			graphFix,
		);
		await assert.rejects(
			run({
				resource: 'message',
				operation: 'flag',
				messageId: id,
				flagOptions: { dueDate: '2026-12-01T17:00:00Z' },
			}),
			graphFix,
		);
		assert.ok(!(await listFolder(folder))[0].flags.includes('\\Flagged'), 'not flagged');
	});

	it('delete moves to Deleted Items; permanently removes it', async () => {
		const soft = await oneMessage('del', { subject: `Soft ${Date.now()}` });
		await run({ resource: 'message', operation: 'delete', messageId: soft.id, permanent: false });
		assert.deepEqual(await listFolder(soft.folder), []);
		assert.ok((await listFolder('Deleted Items')).some((m) => m.subject === soft.json.subject));
		const hard = await oneMessage('del', { subject: `Hard ${Date.now()}` });
		await run({ resource: 'message', operation: 'delete', messageId: hard.id, permanent: true });
		assert.deepEqual(await listFolder(hard.folder), []);
		assert.ok(!(await listFolder('Deleted Items')).some((m) => m.subject === hard.json.subject));
	});

	it('attachments: list, download one by name, download all as binary', async () => {
		const { id } = await oneMessage('att', {
			subject: 'Files',
			attachments: [
				{ filename: 'a.txt', content: 'first' },
				{ filename: 'b.txt', content: 'second' },
			],
		});
		const list = await run({ resource: 'attachment', operation: 'getAll', messageId: id });
		assert.deepEqual(
			list.map((i) => i.json.filename),
			['a.txt', 'b.txt'],
		);
		const [one] = await run({
			resource: 'attachment',
			operation: 'download',
			messageId: id,
			which: 'filename',
			filename: 'b.txt',
			prefix: 'file_',
		});
		assert.equal(Buffer.from(one.binary!.file_0.data, 'base64').toString(), 'second');
		const [all] = await run({
			resource: 'attachment',
			operation: 'download',
			messageId: id,
			which: 'all',
			prefix: 'attachment_',
		});
		assert.deepEqual(Object.keys(all.binary!), ['attachment_0', 'attachment_1']);
	});

	it('folders: create a nested path (parents included), then list it', async () => {
		const name = `Customers-${Date.now()}`;
		const [created] = await run({
			resource: 'folder',
			operation: 'create',
			path: `Inbox/${name}/ACME`,
		});
		assert.equal(created.json.path, `Inbox/${name}/ACME`);
		assert.equal(created.json.created, true);
		const folders = (await run({ resource: 'folder', operation: 'getAll', returnAll: true })).map(
			(i) => i.json.path,
		);
		assert.ok(folders.includes(`Inbox/${name}`));
		assert.ok(folders.includes(`Inbox/${name}/ACME`));
		const [again] = await run({
			resource: 'folder',
			operation: 'create',
			path: `Inbox/${name}/ACME`,
		});
		assert.equal(again.json.created, false);
	});

	it('folders: get gives a folder with how many messages it holds and how many are unread; Inbox is marked well-known', async () => {
		const folder = await freshFolder('count');
		await appendMails(folder, [{ subject: 'new 1' }, { subject: 'new 2' }]);
		await appendMails(folder, [{ subject: 'read' }], 'alice@example.test', ['\\Seen']);
		const get = (value: string) =>
			run({ resource: 'folder', operation: 'get', folder: { __rl: true, mode: 'path', value } });
		const [item] = await get(folder);
		assert.deepEqual(item.json, {
			mailbox: 'alice@example.test',
			path: folder,
			name: folder.split('/')[1],
			wellKnownName: null,
			totalItemCount: 3,
			unreadItemCount: 2,
		});
		const [inbox] = await get('inbox');
		assert.equal(inbox.json.path, 'Inbox');
		assert.equal(inbox.json.wellKnownName, 'inbox');
		assert.equal(inbox.json.totalItemCount, (await listFolder('Inbox')).length);
	});

	it('folders: rename keeps the mail and subfolders under the new name, beside where it was; a taken name, a bad name or an Outlook folder is refused and nothing changes', async () => {
		const folder = await folderWithSub('ren');
		const newName = `Renamed-${Date.now()}`;
		const rename = (value: string, name: string) =>
			run({ resource: 'folder', operation: 'rename', folder: folderRl(value), newName: name });
		const [renamed] = await rename(folder, newName);
		assert.deepEqual(renamed.json, {
			mailbox: 'alice@example.test',
			path: `Inbox/${newName}`,
			name: newName,
			previousPath: folder,
		});
		assert.equal((await listFolder(`Inbox/${newName}`)).length, 2);
		assert.equal((await listFolder(`Inbox/${newName}/Sub`)).length, 1);
		assert.ok(!(await folderPaths()).some((p) => p === folder || p.startsWith(`${folder}/`)));

		const other = await freshFolder('taken');
		const before = await folderPaths();
		const refused = (value: string, name: string, message: RegExp, fix: RegExp) =>
			assert.rejects(rename(value, name), refusedWith(message, fix));
		await refused(
			`Inbox/${newName}`,
			other.split('/')[1].toUpperCase(),
			/already exists beside/,
			/Choose another name/,
		);
		await refused(`Inbox/${newName}`, 'a/b', /has "\/" in it/, /one name without "\/"/);
		await refused(`Inbox/${newName}`, 'x\r\nA1 DELETE INBOX', /control character/, /Remove it/);
		await refused(`Inbox/${newName}`, '  ', /name is empty/, /Enter a name/);
		await refused(
			'Inbox',
			'Post',
			/Inbox folder, which cannot be renamed/,
			/Pick a folder you created/,
		);
		await refused('sentitems', 'Out', /Sent Items folder/, /Pick a folder you created/);
		assert.deepEqual(await folderPaths(), before, 'no folder changed');
		assert.equal((await listFolder(`Inbox/${newName}`)).length, 2);

		// A name beyond ASCII (IMAP's modified UTF-7 on the wire) reads back as typed.
		const unicode = `Ünïcødé & ✓ ${newName}`;
		const [again] = await rename(`Inbox/${newName}`, unicode);
		assert.equal(again.json.path, `Inbox/${unicode}`);
		assert.ok((await folderPaths()).includes(`Inbox/${unicode}/Sub`));
		const mail = await run({
			resource: 'message',
			operation: 'getAll',
			folder: folderRl(`Inbox/${unicode}`),
			returnAll: true,
		});
		assert.equal(mail.length, 2, 'its mail is read by the new path');
	});

	it('folders: move puts the folder with its mail and subfolders into another, or at the top of the mailbox, under its own name; into itself, into its own subfolder, onto a taken name, or an Outlook folder is refused and nothing changes', async () => {
		const folder = await folderWithSub('mov');
		const leaf = folder.split('/')[1];
		const into = await freshFolder('into');
		const move = (value: string, destination: string) =>
			run({
				resource: 'folder',
				operation: 'move',
				folder: folderRl(value),
				destination: folderRl(destination),
			});
		const [moved] = await move(folder, into);
		assert.deepEqual(moved.json, {
			mailbox: 'alice@example.test',
			path: `${into}/${leaf}`,
			name: leaf,
			previousPath: folder,
		});
		assert.equal((await listFolder(`${into}/${leaf}`)).length, 2);
		assert.equal((await listFolder(`${into}/${leaf}/Sub`)).length, 1);
		assert.ok(!(await folderPaths()).includes(folder));

		await run({ resource: 'folder', operation: 'create', path: `${folder}` });
		const before = await folderPaths();
		const refused = (value: string, destination: string, message: RegExp, fix: RegExp) =>
			assert.rejects(move(value, destination), refusedWith(message, fix));
		const here = `${into}/${leaf}`;
		await refused(here, here, /cannot be moved into itself/, /outside the folder/);
		await refused(here, `${here}/Sub`, /into its own subfolder/, /outside the folder/);
		await refused(folder, into, /already has a folder named/, /Rename one of the two/);
		await refused('Inbox', into, /Inbox folder, which cannot be moved/, /where they are/);
		await refused('drafts', into, /Drafts folder/, /Pick a folder you created/);
		assert.deepEqual(await folderPaths(), before, 'no folder changed');
		assert.equal((await listFolder(here)).length, 2);

		// To the top of the mailbox, beside Inbox; a second folder of that name cannot follow.
		const toTop = (value: string) =>
			run({ resource: 'folder', operation: 'move', folder: folderRl(value), toTop: true });
		const [top] = await toTop(here);
		assert.equal(top.json.path, leaf);
		assert.equal(top.json.previousPath, here);
		assert.equal((await listFolder(leaf)).length, 2);
		assert.equal((await listFolder(`${leaf}/Sub`)).length, 1);
		await assert.rejects(
			toTop(folder),
			refusedWith(/The top of the mailbox already has a folder named/, /Rename one of the two/),
		);
		await run({ resource: 'folder', operation: 'delete', folder: folderRl(leaf), permanent: true });
	});

	it('folders: delete moves the folder with its mail and subfolders to Deleted Items; from there only Delete Permanently removes it, subfolders and mail included; a name taken in Deleted Items or an Outlook folder is refused', async () => {
		const folder = await folderWithSub('gone');
		const leaf = folder.split('/')[1];
		const remove = (value: string, permanent: boolean) =>
			run({
				resource: 'folder',
				operation: 'delete',
				folder: folderRl(value),
				permanent,
			});
		const [moved] = await remove(folder, false);
		assert.equal(moved.json.movedTo, `Deleted Items/${leaf}`);
		assert.equal(moved.json.path, folder);
		assert.equal(moved.json.permanent, false);
		assert.equal((await listFolder(`Deleted Items/${leaf}`)).length, 2, 'its mail went with it');
		assert.equal((await listFolder(`Deleted Items/${leaf}/Sub`)).length, 1);
		assert.ok(!(await folderPaths()).includes(folder));

		const refused = (value: string, permanent: boolean, message: RegExp, fix: RegExp) =>
			assert.rejects(remove(value, permanent), refusedWith(message, fix));
		await refused(`Deleted Items/${leaf}`, false, /already in Deleted Items/, /Delete Permanently/);
		assert.equal((await listFolder(`Deleted Items/${leaf}`)).length, 2, 'still there');

		// A second folder of the same name cannot join the first in Deleted Items.
		await run({ resource: 'folder', operation: 'create', path: `Inbox/${leaf}` });
		await refused(`Inbox/${leaf}`, false, /already has a folder named/, /Rename this folder first/);
		assert.ok((await folderPaths()).includes(`Inbox/${leaf}`));
		await remove(`Inbox/${leaf}`, true);

		const [gone] = await remove(`Deleted Items/${leaf}`, true);
		assert.equal(gone.json.permanent, true);
		assert.equal(gone.json.movedTo, undefined);
		const after = await folderPaths();
		assert.ok(!after.some((p) => p.includes(leaf)), 'the folder and its subfolder are gone');

		const inbox = (await listFolder('Inbox')).length;
		for (const wellKnown of ['Inbox', 'Deleted Items', 'drafts'])
			for (const permanent of [false, true])
				await refused(wellKnown, permanent, /cannot be deleted/, /Pick a folder you created/);
		assert.deepEqual(await folderPaths(), after, 'no folder changed');
		assert.equal((await listFolder('Inbox')).length, inbox);
	});

	it('the folder picker lists nested paths over IMAP, and filters them', async () => {
		const name = `Picker-${Date.now()}`;
		await run({ resource: 'folder', operation: 'create', path: `Inbox/${name}/Deep` });
		const spec = {
			type: 'm365MailTrigger' as const,
			parameters: { authentication: 'delegated', mailbox: '' },
			credentials: { m365MailOAuth2Api: 'alice' },
		};
		const all = await searchFolderList(spec, store);
		assert.ok(all.some((f) => f.value === 'Inbox'));
		assert.ok(all.some((f) => f.value === `Inbox/${name}/Deep`));
		const filtered = await searchFolderList(spec, store, name.toUpperCase());
		assert.deepEqual(
			filtered.map((f) => f.value),
			[`Inbox/${name}`, `Inbox/${name}/Deep`],
		);
	});
});

describe('action node over IMAP: bad input', () => {
	it('a malformed message id names where to get a good one', async () => {
		await assert.rejects(
			run({ resource: 'message', operation: 'get', messageId: 'AAMkAGI2TG93AAA=' }),
			(error: Error & { description?: string }) =>
				/not a message ID/.test(error.message) && /Trigger/.test(error.description ?? ''),
		);
	});

	it('a folder that does not exist suggests the nested path', async () => {
		const folder = await freshFolder('Suggest');
		const name = folder.split('/')[1];
		await assert.rejects(
			run({
				resource: 'message',
				operation: 'getAll',
				returnAll: true,
				folder: { __rl: true, mode: 'path', value: name },
			}),
			(error: Error & { description?: string }) =>
				(error.description ?? '').includes(`Did you mean "${folder}"`),
		);
	});

	it('continue on fail: a bad item becomes an error item, the others still run, each paired', async () => {
		const { id } = await oneMessage('cof', { subject: 'Fine' });
		const items: INodeExecutionData[] = [
			{ json: { id } },
			{ json: { id: 'broken' } },
			{ json: { id } },
		];
		const output = (
			await runActionNode(
				action({ resource: 'message', operation: 'get', messageId: '={{ $json.id }}' }, 'alice', {
					onError: 'continueRegularOutput',
				}),
				store,
				items,
			)
		)[0];
		assert.deepEqual(
			output.map((i) => i.pairedItem),
			[{ item: 0 }, { item: 1 }, { item: 2 }],
		);
		assert.equal(output[0].json.subject, 'Fine');
		assert.match(String(output[1].json.error), /not a message ID/);
		assert.equal(output[2].json.subject, 'Fine');
	});
});

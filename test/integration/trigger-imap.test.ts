import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TLSSocket } from 'node:tls';

import type { IDataObject, INodeParameters } from 'n8n-workflow';

import { count } from '../harness/count';
import {
	CredentialStore,
	discardingPoll,
	durablePoll,
	type DurableDatabase,
	pollTrigger,
	restartN8n,
	triggerNode,
} from '../harness/n8n';
import {
	appendMails,
	buildMail,
	CuttingProxy,
	deliverMail,
	expungeMails,
	freshFolder,
	ImapTlsProxy,
	listFolder,
	recreateFolder,
	restartDovecot,
	testImap,
} from '../harness/mail';
import { appOnlyCredential, delegatedCredential, IMAP_SCOPES, signIn } from '../harness/stack';
import { sessionTiming } from '../../nodes/M365Mail/transport/imap/session';

const store = new CredentialStore();

function trigger(folder: string, parameters: INodeParameters = {}, credential = 'alice') {
	return triggerNode(folder, parameters, credential, 'imap');
}

const subjects = (items: Array<{ json: IDataObject }>) => items.map((i) => i.json.subject);

/** A proxy in front of Dovecot (ImapTlsProxy), and Alice's credential through it stored as `name`. */
async function credentialThroughProxy(name: string): Promise<ImapTlsProxy> {
	const proxy = new ImapTlsProxy();
	await proxy.start();
	try {
		const data = await signIn('alice@example.test', IMAP_SCOPES);
		store.set(name, delegatedCredential(data, { customImapPort: proxy.port }));
		return proxy;
	} catch (error) {
		await proxy.stop();
		throw error;
	}
}

before(async () => {
	store.set('alice', delegatedCredential(await signIn('alice@example.test', IMAP_SCOPES)));
	store.set('app', appOnlyCredential());
});

describe('trigger over IMAP: new unread mail, each message once', () => {
	it('first activation starts from now; the next poll returns only mail that arrived after it', async () => {
		const folder = await freshFolder('now');
		await appendMails(folder, [{ subject: 'old 1' }, { subject: 'old 2' }]);
		const state: IDataObject = {};
		assert.deepEqual(await pollTrigger(trigger(folder), store, state), []);
		await appendMails(folder, [{ subject: 'new 1' }, { subject: 'new 2' }]);
		const items = await pollTrigger(trigger(folder), store, state);
		assert.deepEqual(subjects(items), ['new 1', 'new 2']);
		assert.deepEqual(await pollTrigger(trigger(folder), store, state), []);
	});

	it('under n8n’s durable cursors, which drop the starting point of the poll at activation: the first scheduled poll still emits the mail received since the activation, and not older mail', async () => {
		const folder = await freshFolder('durable-now');
		const tenMinutesAgo = new Date(Date.now() - 10 * 60_000);
		await appendMails(
			folder,
			[{ subject: 'before 1' }, { subject: 'before 2' }],
			undefined,
			[],
			tenMinutesAgo,
		);
		const database: DurableDatabase = { global: {} };
		assert.deepEqual(await durablePoll(trigger(folder), store, database, true), []);
		assert.deepEqual(database.cursor, {}, 'n8n did not keep the node data of the activation poll');
		await appendMails(folder, [{ subject: 'after 1' }, { subject: 'after 2' }]);
		const items = await durablePoll(trigger(folder), store, database, false);
		assert.deepEqual(subjects(items), ['after 1', 'after 2']);
		assert.deepEqual(await durablePoll(trigger(folder), store, database, false), []);
		await appendMails(folder, [{ subject: 'after 3' }]);
		assert.deepEqual(subjects(await durablePoll(trigger(folder), store, database, false)), [
			'after 3',
		]);
	});

	it('"include unread mail already there" emits existing unread mail, oldest first, and skips read mail', async () => {
		const folder = await freshFolder('existing');
		await appendMails(folder, [{ subject: 'unread A' }]);
		await appendMails(folder, [{ subject: 'read B' }], undefined, ['\\Seen']);
		await appendMails(folder, [{ subject: 'unread C' }]);
		const state: IDataObject = {};
		const items = await pollTrigger(trigger(folder, { startFrom: 'existing' }), store, state);
		assert.deepEqual(subjects(items), ['unread A', 'unread C']);
	});

	it('items carry mailbox, folder, uidValidity, uid, Message-ID and an id string', async () => {
		const folder = await freshFolder('shape');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		await appendMails(folder, [
			{
				subject: 'Shape',
				from: 'Carol <carol@example.test>',
				cc: 'dave@example.test',
				text: 'plain body',
				html: '<p>html body</p>',
				headers: { Importance: 'High', 'List-Id': '<ops.example.test>' },
			},
		]);
		const [item] = await pollTrigger(trigger(folder), store, state);
		const json = item.json;
		assert.equal(json.mailbox, 'alice@example.test');
		assert.equal(json.folder, folder);
		assert.match(String(json.uidValidity), /^\d+$/);
		assert.equal(json.id, `imap:${json.uidValidity}:${json.uid}:${folder}`);
		assert.match(String(json.messageId), /^<.+@.+>$/);
		assert.deepEqual(json.from, { name: 'Carol', address: 'carol@example.test' });
		assert.deepEqual(json.cc, [{ name: '', address: 'dave@example.test' }]);
		assert.equal(json.text, 'plain body');
		assert.equal(json.html, '<p>html body</p>');
		assert.equal(json.importance, 'high');
		assert.equal(json.isRead, false);
		assert.equal((json.headers as IDataObject)['list-id'], '<ops.example.test>');
		assert.equal(item.binary, undefined);
	});

	it('max messages per poll: the rest comes next poll, oldest first', async () => {
		const folder = await freshFolder('max');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		await appendMails(
			folder,
			[1, 2, 3, 4, 5].map((n) => ({ subject: `m${n}` })),
		);
		const polls = [];
		for (let i = 0; i < 4; i++)
			polls.push(subjects(await pollTrigger(trigger(folder, { maxMessages: 2 }), store, state)));
		assert.deepEqual(polls, [['m1', 'm2'], ['m3', 'm4'], ['m5'], []]);
	});

	it('filters: from (any of a list), subject, to-or-cc, importance and attachments all apply', async () => {
		const folder = await freshFolder('filters');
		const state: IDataObject = {};
		const filtered = (filters: IDataObject) =>
			trigger(folder, { filters: filters as INodeParameters, startFrom: 'existing' });
		await appendMails(folder, [
			{ subject: 'Invoice 1', from: 'billing@vendor.test' },
			{ subject: 'Invoice 2', from: 'alerts@other.test', cc: 'finance@example.test' },
			{ subject: 'Hello', from: 'billing@vendor.test' },
			{
				subject: 'Invoice 3',
				from: 'x@y.test',
				headers: { 'X-Priority': '1 (Highest)' },
				attachments: [{ filename: 'inv.pdf', content: Buffer.from('%PDF-1.4') }],
			},
		]);
		const run = async (filters: IDataObject) =>
			subjects(await pollTrigger(filtered(filters), store, { ...state }));
		assert.deepEqual(await run({ from: 'billing@vendor.test; alerts@' }), [
			'Invoice 1',
			'Invoice 2',
			'Hello',
		]);
		assert.deepEqual(await run({ subjectContains: 'invoice' }), [
			'Invoice 1',
			'Invoice 2',
			'Invoice 3',
		]);
		assert.deepEqual(await run({ toOrCc: 'finance@' }), ['Invoice 2']);
		assert.deepEqual(await run({ importance: 'high' }), ['Invoice 3']);
		assert.deepEqual(await run({ hasAttachments: true }), ['Invoice 3']);
		assert.deepEqual(await run({ from: 'billing@', subjectContains: 'invoice' }), ['Invoice 1']);
	});

	it('"Fetch Test Event" returns the newest matching message and leaves the cursor alone', async () => {
		const folder = await freshFolder('manual');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		const cursorBefore = JSON.stringify(state);
		await appendMails(folder, [{ subject: 'first' }, { subject: 'second' }]);
		const sample = await pollTrigger(trigger(folder), store, state, 'manual');
		assert.deepEqual(subjects(sample), ['second']);
		assert.equal(JSON.stringify(state), cursorBefore);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder), store, state)), [
			'first',
			'second',
		]);
	});

	it('mark as read after emitting: the next poll sets \\Seen (once n8n has the item); move puts it in the folder', async () => {
		const folder = await freshFolder('after');
		const archive = await freshFolder('archive');
		const state: IDataObject = {};
		const reading = trigger(folder, { afterEmit: 'markRead' });
		await pollTrigger(reading, store, state);
		await appendMails(folder, [{ subject: 'to read' }]);
		const [read] = await pollTrigger(reading, store, state);
		assert.equal(read.json.subject, 'to read');
		// n8n has the item now; the message is marked by the next poll, not before the hand-over.
		assert.deepEqual(
			(await listFolder(folder)).map((m) => m.flags.includes('\\Seen')),
			[false],
		);
		assert.deepEqual(await pollTrigger(reading, store, state), []);
		assert.deepEqual(
			(await listFolder(folder)).map((m) => m.flags.includes('\\Seen')),
			[true],
		);

		const moving = trigger(folder, {
			afterEmit: 'move',
			moveTo: { __rl: true, mode: 'path', value: archive },
		});
		await pollTrigger(moving, store, state);
		await appendMails(folder, [{ subject: 'to move' }]);
		const [moved] = await pollTrigger(moving, store, state);
		assert.equal(moved.json.subject, 'to move');
		assert.deepEqual(await pollTrigger(moving, store, state), []);
		assert.deepEqual(
			(await listFolder(archive)).map((m) => m.subject),
			['to move'],
		);
		assert.deepEqual(
			(await listFolder(folder)).map((m) => m.subject),
			['to read'],
		);
	});

	it('delete after emitting: the next poll moves the message to Deleted Items', async () => {
		const folder = await freshFolder('delete');
		const state: IDataObject = {};
		const deleting = trigger(folder, { afterEmit: 'delete' });
		await pollTrigger(deleting, store, state);
		const subject = `to delete ${Date.now()}`;
		await appendMails(folder, [{ subject }]);
		const [item] = await pollTrigger(deleting, store, state);
		assert.equal(item.json.subject, subject);
		assert.equal((await listFolder(folder)).length, 1);
		await pollTrigger(deleting, store, state);
		assert.deepEqual(await listFolder(folder), []);
		assert.ok((await listFolder('Deleted Items')).some((m) => m.subject === subject));
	});

	it('raw output is the complete .eml as binary; full output adds every header; attachments come as binary', async () => {
		const folder = await freshFolder('formats');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		await appendMails(folder, [
			{
				subject: 'With files',
				html: '<p>logo <img src="cid:logo@x"></p>',
				headers: { 'X-Custom': 'kept' },
				attachments: [
					{ filename: 'report.csv', content: 'a,b\n1,2\n', contentType: 'text/csv' },
					{
						filename: 'logo.png',
						content: Buffer.from([137, 80, 78, 71]),
						contentType: 'image/png',
						cid: 'logo@x',
					},
				],
			},
		]);
		const raw = await pollTrigger(trigger(folder, { output: 'raw' }), store, { ...state });
		assert.equal(raw[0].binary?.raw.mimeType, 'message/rfc822');
		const eml = Buffer.from(raw[0].binary!.raw.data, 'base64').toString();
		assert.match(eml, /X-Custom: kept/);
		assert.match(eml, /Subject: With files/);

		const full = await pollTrigger(trigger(folder, { output: 'full' }), store, { ...state });
		assert.equal((full[0].json.allHeaders as IDataObject)['x-custom'], 'kept');

		const withFiles = await pollTrigger(
			trigger(folder, { downloadAttachments: true, options: { attachmentPrefix: 'file_' } }),
			store,
			{ ...state },
		);
		const binary = withFiles[0].binary!;
		assert.deepEqual(Object.keys(binary), ['file_0']);
		assert.equal(binary.file_0.fileName, 'report.csv');
		assert.equal(Buffer.from(binary.file_0.data, 'base64').toString(), 'a,b\n1,2\n');
		assert.equal(withFiles[0].json.hasAttachments, true);
		const inline = await pollTrigger(
			trigger(folder, { downloadAttachments: true, options: { includeInlineImages: true } }),
			store,
			{ ...state },
		);
		assert.deepEqual(Object.keys(inline[0].binary!).sort(), ['attachment_0', 'attachment_1']);
	});

	it('simple output lists attachments without downloading them', async () => {
		const folder = await freshFolder('list');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		await appendMails(folder, [
			{
				subject: 'Listed',
				text: 'Grüße – quoted-printable',
				attachments: [{ filename: 'a.txt', content: 'x'.repeat(5000) }],
			},
		]);
		const [item] = await pollTrigger(trigger(folder), store, state);
		assert.equal(item.json.text, 'Grüße – quoted-printable');
		assert.equal(item.json.hasAttachments, true);
		assert.deepEqual(
			(item.json.attachments as IDataObject[]).map((a) => a.filename),
			['a.txt'],
		);
	});

	it('a message larger than the limit is skipped and the poll goes on', async () => {
		const folder = await freshFolder('size');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		await appendMails(folder, [
			{ subject: 'small' },
			{
				subject: 'big',
				attachments: [{ filename: 'big.bin', content: Buffer.alloc(1_200_000, 7) }],
			},
			{ subject: 'small 2' },
		]);
		const items = await pollTrigger(trigger(folder, { options: { maxSizeMb: 1 } }), store, state);
		assert.deepEqual(subjects(items), ['small', 'small 2']);
	});

	it('malformed MIME: the item is still emitted with a parseError, and the poll goes on', async () => {
		const folder = await freshFolder('malformed');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		const bomb = Buffer.from(
			`From: x@y.test\r\nSubject: header bomb\r\nX-Huge: ${'a'.repeat(3 * 1024 * 1024)}\r\n\r\nbody\r\n`,
		);
		await appendMails(folder, [{ subject: 'before' }, bomb, { subject: 'after' }]);
		const items = await pollTrigger(trigger(folder, { output: 'full' }), store, state);
		assert.deepEqual(subjects(items), ['before', 'header bomb', 'after']);
		assert.match(String(items[1].json.parseError), /header/i);
		assert.equal(items[0].json.parseError, undefined);
	});

	it('a folder recreated with a new UIDVALIDITY: mail that arrived in the gap is emitted, mail emitted before is not replayed', async () => {
		const folder = await freshFolder('uidvalidity');
		const state: IDataObject = {};
		await appendMails(folder, [
			{ subject: 'emitted before the reset', headers: { 'Message-ID': '<kept@example.test>' } },
		]);
		const node = trigger(folder, { startFrom: 'existing' });
		assert.deepEqual(subjects(await pollTrigger(node, store, state)), ['emitted before the reset']);
		const client = await testImap();
		const serverPath = folder.replace(/^Inbox/, 'INBOX');
		try {
			await client.mailboxDelete(serverPath);
			await client.mailboxCreate(serverPath);
		} finally {
			await client.logout();
		}
		// The server kept a copy of the emitted message (new UID, same Message-ID) and mail arrived.
		await appendMails(folder, [
			{ subject: 'emitted before the reset', headers: { 'Message-ID': '<kept@example.test>' } },
			{ subject: 'arrived in the gap' },
		]);
		const recovered = await pollTrigger(node, store, state);
		assert.deepEqual(subjects(recovered), ['arrived in the gap']);
		assert.equal((recovered[0].json.delivery as IDataObject).recovered, 'uidValidityChanged');
		await appendMails(folder, [{ subject: 'after the reset' }]);
		assert.deepEqual(subjects(await pollTrigger(node, store, state)), ['after the reset']);
		assert.deepEqual(await pollTrigger(node, store, state), []);
	});

	it('a folder rebuilt (new UIDVALIDITY) in the middle of a drain longer than a poll, in order and then in reverse: mail emitted before is not emitted again, the rest comes once, a poll’s worth at a time', async () => {
		const folder = await freshFolder('rebuilt');
		const state: IDataObject = {};
		const node = trigger(folder, { maxMessages: 3 });
		const poll = async () => subjects(await pollTrigger(node, store, state)) as string[];
		await poll();
		const sent = Array.from({ length: 19 }, (_, i) => `rebuilt ${i}`);
		const seen: string[] = [];
		await appendMails(
			folder,
			sent.slice(0, 11).map((subject) => ({ subject })),
		);
		seen.push(...(await poll()), ...(await poll()));
		assert.deepEqual([...seen], sent.slice(0, 6));
		// The server rebuilds the folder: the same messages and received times, new UIDs.
		await recreateFolder(folder);
		const recovered = await pollTrigger(node, store, state);
		// The copies of the six emitted come first and do not count against the poll's three.
		assert.deepEqual(subjects(recovered), sent.slice(6, 9));
		assert.equal((recovered[0].json.delivery as IDataObject).recovered, 'uidValidityChanged');
		seen.push(...(subjects(recovered) as string[]), ...(await poll()), ...(await poll()));
		assert.deepEqual([...seen], sent.slice(0, 11));

		// Eight more, three emitted, then a rebuild in reverse: five new ones come before the copies,
		// more than a poll takes, so the copies come in the next poll's part of the recovery.
		await appendMails(
			folder,
			sent.slice(11).map((subject) => ({ subject })),
		);
		seen.push(...(await poll()));
		await recreateFolder(folder, true);
		for (let i = 0; i < 4; i++) seen.push(...(await poll()));
		assert.deepEqual(count(sent, seen), { lost: [], duplicated: [] });
		assert.equal(seen.length, sent.length);
	});

	for (const afterEmit of ['markRead', 'delete'] as const) {
		it(`"${afterEmit}" owed when the folder is rebuilt (new UIDVALIDITY): the next poll finds the emitted messages by Message-ID and acts on them; one whose Message-ID is not ASCII (Exchange refuses it in SEARCH) is left alone, and nothing fails`, async () => {
			const folder = await freshFolder(`rebuilt-${afterEmit}`);
			const state: IDataObject = {};
			const node = trigger(folder, { afterEmit });
			await pollTrigger(node, store, state);
			const tag = `${afterEmit} ${Date.now()}`;
			await appendMails(folder, [
				{ subject: `${tag} 1` },
				{
					subject: `${tag} 2`,
					headers: { 'Message-ID': `<two"quo\\ted-${tag.replace(' ', '-')}@example.test>` },
				},
				Buffer.from(
					`From: a@example.test\r\nTo: alice@example.test\r\nSubject: ${tag} 3\r\n` +
						`Message-ID: <dr\u00e9i-${tag.replace(' ', '-')}@example.test>\r\n\r\nthree\r\n`,
				),
				{ subject: `${tag} 4` },
			]);
			const emitted = subjects(await pollTrigger(node, store, state));
			assert.deepEqual(
				emitted,
				[1, 2, 3, 4].map((n) => `${tag} ${n}`),
			);
			await recreateFolder(folder);
			await appendMails(folder, [{ subject: `${tag} 5` }]);
			assert.deepEqual(subjects(await pollTrigger(node, store, state)), [`${tag} 5`]);
			const left = (await listFolder(folder)).map((m) => [m.subject, m.flags.includes('\\Seen')]);
			if (afterEmit === 'markRead') {
				assert.deepEqual(left, [
					[`${tag} 1`, true],
					[`${tag} 2`, true],
					[`${tag} 3`, false],
					[`${tag} 4`, true],
					[`${tag} 5`, false],
				]);
			} else {
				assert.deepEqual(left, [
					[`${tag} 3`, false],
					[`${tag} 5`, false],
				]);
				const deleted = (await listFolder('Deleted Items')).map((m) => m.subject);
				for (const n of [1, 2, 4]) assert.ok(deleted.includes(`${tag} ${n}`), `${tag} ${n}`);
			}
			assert.deepEqual(await pollTrigger(node, store, state), []);
		});
	}

	it('a server that refuses the Message-ID search after a rebuild: the owed "mark as read" is left undone, the poll and the next ones succeed, nothing is emitted twice', async () => {
		const proxy = await credentialThroughProxy('refusing');
		try {
			const folder = await freshFolder('rebuilt-refused');
			const state: IDataObject = {};
			const node = trigger(folder, { afterEmit: 'markRead' }, 'refusing');
			await pollTrigger(node, store, state);
			await appendMails(folder, [{ subject: 'refused 1' }, { subject: 'refused 2' }]);
			const seen = subjects(await pollTrigger(node, store, state));
			await recreateFolder(folder);
			proxy.refuseOn(/ SEARCH .*HEADER Message-ID/i);
			await appendMails(folder, [{ subject: 'refused 3' }]);
			seen.push(...subjects(await pollTrigger(node, store, state)));
			seen.push(...subjects(await pollTrigger(node, store, state)));
			assert.ok(proxy.refused >= 1, 'the search was refused');
			assert.deepEqual(seen, ['refused 1', 'refused 2', 'refused 3']);
			assert.deepEqual(
				(await listFolder(folder)).map((m) => [m.subject, m.flags.includes('\\Seen')]),
				[
					['refused 1', false],
					['refused 2', false],
					['refused 3', true],
				],
			);
		} finally {
			await proxy.stop();
		}
	});

	it('shared mailbox with app-only credentials; mail delivered by the MTA is seen', async () => {
		const state: IDataObject = {};
		const params = {
			mailbox: 'shared@example.test',
			folder: { __rl: true, mode: 'list', value: 'Inbox' },
		};
		await pollTrigger(trigger('Inbox', params, 'app'), store, state);
		const subject = `to shared ${Date.now()}`;
		deliverMail(await buildMail({ subject, to: 'shared@example.test' }), 'shared@example.test');
		const items = await pollTrigger(trigger('Inbox', params, 'app'), store, state);
		assert.deepEqual(subjects(items), [subject]);
		assert.equal(items[0].json.mailbox, 'shared@example.test');
	});
});

describe('app-only credential: Allowed Mailboxes', () => {
	it('a mailbox the list does not name is refused before any request, over IMAP and Graph; a listed one or domain works', async () => {
		store.set('app-listed', appOnlyCredential({ allowedMailboxes: 'shared@example.test' }));
		store.set(
			'app-domain',
			appOnlyCredential({ allowedMailboxes: '*@other.test, *@example.test' }),
		);
		store.set('app-bad-list', appOnlyCredential({ allowedMailboxes: 'not-an-address' }));
		for (const protocol of ['imap', 'graph'] as const) {
			const node = (credential: string, mailbox: string) => {
				const spec = triggerNode('Inbox', { mailbox }, 'app', protocol);
				return { ...spec, credentials: { m365MailAppOnlyApi: credential } };
			};
			await assert.rejects(
				pollTrigger(node('app-listed', 'bob@example.test'), store, {}),
				(e: Error & { description?: string }) =>
					/does not allow the mailbox bob@example.test/.test(e.message) &&
					/Allowed Mailboxes/.test(e.description ?? ''),
				protocol,
			);
			await assert.rejects(
				pollTrigger(node('app-bad-list', 'shared@example.test'), store, {}),
				(e: Error) => /neither an address nor \*@domain/.test(e.message),
			);
			assert.deepEqual(await pollTrigger(node('app-listed', 'shared@example.test'), store, {}), []);
			assert.deepEqual(await pollTrigger(node('app-domain', 'shared@example.test'), store, {}), []);
		}
	});
});

describe('trigger over IMAP: bad input names the fix', () => {
	it('a folder that does not exist fails the first poll with a clear error', async () => {
		await assert.rejects(
			pollTrigger(trigger('Inbox/No-Such-Folder'), store, {}),
			(error: Error & { description?: string }) =>
				/Folder "Inbox\/No-Such-Folder" not found in alice@example.test/.test(error.message) &&
				/full path/.test(error.description ?? ''),
		);
	});

	it('a mailbox the user has no access to fails with a fix that names access to the mailbox', async () => {
		await assert.rejects(
			pollTrigger(trigger('Inbox', { mailbox: 'bob@example.test' }), store, {}),
			(error: Error & { description?: string }) =>
				/bob@example\.test/.test(error.message) &&
				/signed-in user has access to it/.test(error.description ?? ''),
		);
	});

	it('app-only without a mailbox asks for one', async () => {
		await assert.rejects(
			pollTrigger(trigger('Inbox', {}, 'app'), store, {}),
			/Mailbox is required/,
		);
	});

	it('a token without the IMAP scope fails with the scope fix', async () => {
		const graphOnly = await signIn(
			'alice@example.test',
			'openid profile email offline_access https://outlook.office.com/SMTP.Send',
		);
		store.set('smtp-only', delegatedCredential(graphOnly));
		await assert.rejects(
			pollTrigger(trigger('Inbox', {}, 'smtp-only'), store, {}),
			(error: Error & { description?: string }) =>
				/IMAP/i.test(`${error.message} ${error.description}`),
		);
	});

	it('after the first poll, passing trouble is logged and the cursor stays; from the third poll in a row it is thrown', async () => {
		const folder = await freshFolder('later-error');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		const cursor = () => JSON.stringify(Object.values(state.folders as IDataObject)[0]);
		const before = cursor();
		store.set('broken', { ...store.get('alice'), customImapPort: 1 });
		await appendMails(folder, [{ subject: 'waits for a working connection' }]);
		// The same mailbox and folder through a credential that cannot connect: logged, cursor kept.
		const broken = trigger(folder, {}, 'broken');
		assert.deepEqual(await pollTrigger(broken, store, state), []);
		assert.deepEqual(await pollTrigger(broken, store, state), []);
		await assert.rejects(pollTrigger(broken, store, state), (e: Error) =>
			/3 polls in a row/.test(e.message),
		);
		assert.equal(
			JSON.stringify((JSON.parse(cursor()) as IDataObject).cursor),
			JSON.stringify((JSON.parse(before) as IDataObject).cursor),
		);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder), store, state)), [
			'waits for a working connection',
		]);
	});
});

describe('trigger over IMAP: failures lose nothing and duplicate nothing', () => {
	const proxy = new CuttingProxy();
	before(async () => {
		await proxy.start();
		store.set('via-proxy', { ...store.get('alice'), customImapPort: proxy.port });
	});
	after(async () => await proxy.stop());

	it('a connection cut in the middle of a fetch: no message lost, none emitted twice', async () => {
		const folder = await freshFolder('cut');
		const state: IDataObject = {};
		const params = { output: 'full', maxMessages: 100 };
		await pollTrigger(trigger(folder, params, 'via-proxy'), store, state);
		const sent = Array.from({ length: 30 }, (_, i) => ({
			subject: `cut ${i}`,
			text: 'z'.repeat(10_000),
		}));
		await appendMails(folder, sent);
		proxy.cutNextAfter(150_000);
		const seen: unknown[] = [];
		for (let poll = 0; poll < 3; poll++) {
			seen.push(...subjects(await pollTrigger(trigger(folder, params, 'via-proxy'), store, state)));
		}
		assert.equal(proxy.cuts, 1, 'the proxy cut one connection mid-download');
		assert.deepEqual(
			seen,
			sent.map((m) => m.subject),
		);
	});

	for (const output of ['simple', 'full'] as const) {
		it(`${output} output of small and large mail together: a connection cut in the answer to each command of a poll and at four places of its download, or gone silent in the middle of an answer (three places), loses nothing and emits nothing twice`, async () => {
			// Sessions give up on a server silent for 3 s (5 minutes by default; the code is the same
			// either way), from the first session of the test: a kept session keeps its timeout.
			const saved = { ...sessionTiming };
			sessionTiming.socketTimeoutMs = 3000;
			try {
				const folder = await freshFolder(`cut-anywhere-${output}`);
				const state: IDataObject = {};
				const node = trigger(folder, { output, maxMessages: 100 }, 'via-proxy');
				await pollTrigger(node, store, state);
				// 21 small messages and 3 over 64 KB (an attachment): with the simple output, the small ones
				// whole and the large ones' text parts go out in one write (transport/imap/simple.ts).
				const attachment = { filename: 'big.bin', content: Buffer.alloc(120 * 1024, 7) };
				const round = (r: number) => [
					...Array.from({ length: 21 }, (_, i) => ({
						subject: `${output} ${r} small ${i}`,
						text: `${r} ${i} `.repeat(1500).trim(),
					})),
					...Array.from({ length: 3 }, (_, i) => ({
						subject: `${output} ${r} large ${i}`,
						text: `words ${r} ${i} `.repeat(2000).trim(),
						attachments: [attachment],
					})),
				];
				const texts = new Map<string, string>();
				const sent: string[] = [];
				const seen: string[] = [];
				/** A poll's subjects; every item must carry its message's whole text, never a part of it. */
				const poll = async () => {
					const deadline = new Promise<never>((_, reject) =>
						setTimeout(() => reject(new Error('the poll did not end within 30 s')), 30_000).unref(),
					);
					for (const item of await Promise.race([pollTrigger(node, store, state), deadline])) {
						const subject = String(item.json.subject);
						assert.equal(item.json.text, texts.get(subject), `the text of ${subject}`);
						seen.push(subject);
					}
				};
				const append = async (mail: ReturnType<typeof round>) => {
					await appendMails(folder, mail);
					for (const m of mail) texts.set(m.subject, m.text);
					sent.push(...mail.map((m) => m.subject));
				};
				// The first round is not cut: it measures what the server sends in a poll of such mail,
				// where each command's answer starts, and which FETCHes our reader writes at once.
				const writes: string[] = [];
				/** Bytes from the server when each command of the poll was written, and the command. */
				const marks: Array<{ at: number; command: string }> = [];
				let before = 0;
				const tlsWrite = TLSSocket.prototype.write;
				TLSSocket.prototype.write = function (this: TLSSocket, chunk: unknown, ...rest: unknown[]) {
					const text = String(chunk);
					writes.push(text);
					const command = /^\S+ ((?:UID )?[A-Z]+)\b/.exec(text)?.[1];
					if (command) marks.push({ at: proxy.bytesFromServer - before, command });
					return (tlsWrite as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
				} as typeof tlsWrite;
				let pollBytes = 0;
				try {
					await append(round(0));
					marks.length = 0;
					before = proxy.bytesFromServer;
					await poll();
					pollBytes = proxy.bytesFromServer - before;
				} finally {
					TLSSocket.prototype.write = tlsWrite;
				}
				assert.equal(seen.length, 24);
				const together = writes.filter((w) => (w.match(/ UID FETCH /g) ?? []).length > 1);
				if (output === 'simple') assert.equal(together.length, 1, writes.join('\n'));
				assert.deepEqual(marks.map((m) => m.command).slice(0, 3), [
					'UNSELECT',
					'EXAMINE',
					'UID SEARCH',
				]);
				// A cut in the middle of each command's answer, and at four places of the last (the
				// download); each answer is a TLS record or more, so a cut inside one loses all of it.
				const download = marks[marks.length - 1].at;
				const places = [
					...marks.slice(0, -1).map((m, i) => ({
						command: m.command,
						at: Math.floor((m.at + marks[i + 1].at) / 2),
					})),
					...[0.25, 0.5, 0.75, 0.95].map((f) => ({
						command: `${marks[marks.length - 1].command} (${f})`,
						at: Math.floor(download + (pollBytes - download) * f),
					})),
				];
				const cutsBefore = proxy.cuts;
				for (const [r, place] of places.entries()) {
					await append(round(r + 1));
					proxy.cutNextAfter(place.at);
					// The cut poll fails (passing trouble: logged, nothing emitted, the cursor stays); the
					// next ones read the round's mail on a new session.
					for (let polls = 0; polls < 3; polls++) await poll();
					proxy.disarm();
					assert.equal(proxy.cuts, cutsBefore + r + 1, `the cut in ${place.command} was made`);
				}
				// Gone silent mid-answer, the connection still open: the poll gives up at the socket
				// timeout (set for the whole test, above).
				for (const [r, place] of [0.3, 0.6, 0.9].entries()) {
					await append(round(places.length + r + 1));
					const silencedBefore = proxy.silenced;
					proxy.stallNextAfter(Math.floor(pollBytes * place));
					const started = Date.now();
					await poll();
					assert.equal(proxy.silenced, silencedBefore + 1, `silent at ${place} of the poll`);
					assert.ok(Date.now() - started >= 3000, 'the silent poll waited for the timeout');
					for (let polls = 0; polls < 2; polls++) await poll();
				}
				assert.deepEqual(count(sent, seen), { lost: [], duplicated: [] });
				assert.equal(seen.length, sent.length);
			} finally {
				Object.assign(sessionTiming, saved);
			}
		});
	}

	it('polls of one trigger share one IMAP session; a session the server ends, a new token, or a session gone silent opens a new one without losing mail', async () => {
		const proxy = new ImapTlsProxy();
		await proxy.start();
		try {
			const signedIn = () =>
				signIn('alice@example.test', IMAP_SCOPES).then((data) =>
					delegatedCredential(data, { customImapPort: proxy.port }),
				);
			const first = await signedIn();
			store.set('kept', first);
			const folder = await freshFolder('kept');
			// Read and flagged \Deleted, never expunged: leaving the folder between polls must not
			// remove it (CLOSE would, in a folder opened for marking mail read).
			await appendMails(folder, [{ subject: 'deleted' }], undefined, ['\\Seen', '\\Deleted']);
			const state: IDataObject = {};
			const node = trigger(folder, { afterEmit: 'markRead' }, 'kept');
			const poll = async () => subjects(await pollTrigger(node, store, state));
			assert.deepEqual(await poll(), []);
			for (const subject of ['k1', 'k2', 'k3']) {
				await appendMails(folder, [{ subject }]);
				assert.deepEqual(await poll(), [subject]);
			}
			assert.equal(proxy.connections, 1, 'four polls, one connection');
			assert.equal(proxy.commands.get('AUTHENTICATE'), 1);

			// Exchange Online ends a session whose access token expired with an untagged BYE.
			assert.equal(proxy.byeAll('Session invalidated - AccessTokenExpired'), 1);
			await appendMails(folder, [{ subject: 'after bye' }]);
			assert.deepEqual(await poll(), ['after bye']);
			assert.equal(proxy.connections, 2);

			// The credential connected again (a new token): the old session is not reused.
			const second = await signedIn();
			assert.notEqual(
				(second.oauthTokenData as IDataObject).access_token,
				(first.oauthTokenData as IDataObject).access_token,
			);
			store.set('kept', second);
			await appendMails(folder, [{ subject: 'new token' }]);
			assert.deepEqual(await poll(), ['new token']);
			assert.deepEqual(await poll(), []);
			assert.equal(proxy.connections, 3);
			assert.equal(proxy.commands.get('AUTHENTICATE'), 3);

			// The kept session goes silent between polls (a NAT or firewall lost it, telling no one):
			// the next poll asks it to leave the folder, gets no answer within 10 s, and signs in again.
			assert.equal(proxy.stall(), 1, 'the kept session went silent');
			await appendMails(folder, [{ subject: 'after silence' }]);
			assert.deepEqual(await poll(), ['after silence']);
			assert.deepEqual(await poll(), []);
			assert.equal(proxy.connections, 4);
			assert.equal(proxy.stalledClosed, 1, 'the silent session was closed');
			const left = await listFolder(folder);
			assert.ok(left.some((m) => m.subject === 'deleted'));
			assert.ok(
				left.filter((m) => m.subject !== 'deleted').every((m) => m.flags.includes('\\Seen')),
			);
			assert.equal(proxy.commands.get('CLOSE'), undefined);
			assert.ok((proxy.commands.get('UNSELECT') ?? 0) >= 4);
		} finally {
			await proxy.stop();
		}
	});

	it('a poll on the kept session costs two round trips when nothing is new (UNSELECT, EXAMINE: no NOOP, no LIST); a folder renamed meanwhile is looked up again and fails with its name; renamed back, its mail comes once', async () => {
		const proxy = new ImapTlsProxy();
		await proxy.start();
		const admin = await testImap();
		try {
			store.set(
				'kept-cost',
				delegatedCredential(await signIn('alice@example.test', IMAP_SCOPES), {
					customImapPort: proxy.port,
				}),
			);
			const folder = await freshFolder('kept-cost');
			const state: IDataObject = {};
			const node = trigger(folder, { afterEmit: 'markRead' }, 'kept-cost');
			const poll = async () => subjects(await pollTrigger(node, store, state));
			assert.deepEqual(await poll(), []);
			const sent = () => new Map(proxy.commands);
			/** The commands sent since `before`, by name. */
			const since = (before: Map<string, number>) =>
				Object.fromEntries(
					[...proxy.commands]
						.map(([name, n]) => [name, n - (before.get(name) ?? 0)] as const)
						.filter(([, n]) => n > 0),
				);
			let before = sent();
			assert.deepEqual(await poll(), []);
			assert.deepEqual(since(before), { UNSELECT: 1, EXAMINE: 1 });

			await appendMails(folder, [{ subject: 'r1' }]);
			before = sent();
			assert.deepEqual(await poll(), ['r1']);
			assert.equal(since(before).NOOP, undefined);
			assert.equal(since(before).LIST, undefined);

			// Renamed between polls: the kept list still names it, opening it fails, the poll lists the
			// folders again and reports the folder missing.
			const serverPath = folder.replace(/^Inbox/, 'INBOX');
			await appendMails(folder, [{ subject: 'r2' }]);
			await admin.mailboxRename(serverPath, `${serverPath}-moved`);
			before = sent();
			await assert.rejects(poll(), (error: Error) =>
				new RegExp(`Folder "${folder}" not found`).test(error.message),
			);
			assert.ok(since(before).LIST, 'the folders were listed again');
			// Renamed back: the message that arrived before the rename comes once, and nothing else.
			await admin.mailboxRename(`${serverPath}-moved`, serverPath);
			assert.deepEqual(await poll(), ['r2']);
			assert.deepEqual(await poll(), []);
			// Any other folder is looked up in a new list: one created after the kept list was read is
			// found (moving the mail there after emitting it).
			const archive = `${folder}-archive`;
			await admin.mailboxCreate(archive.replace(/^Inbox/, 'INBOX'));
			const moving = trigger(
				folder,
				{ afterEmit: 'move', moveTo: { __rl: true, mode: 'path', value: archive } },
				'kept-cost',
			);
			await appendMails(folder, [{ subject: 'r3' }]);
			assert.deepEqual(subjects(await pollTrigger(moving, store, state)), ['r3']);
			assert.deepEqual(await pollTrigger(moving, store, state), []);
			assert.deepEqual(
				(await listFolder(archive)).map((m) => m.subject),
				['r3'],
			);
		} finally {
			await admin.logout();
			await proxy.stop();
		}
	});

	it('a session that goes silent in the middle of a SEARCH or a FETCH and stays open (lost on the way): the poll gives up at the socket timeout, nothing waits behind it, and from the third poll in a row the error says the server went silent; then each message is emitted once and marked read; every silent session is closed', async () => {
		const proxy = await credentialThroughProxy('silent-fetch');
		const saved = { ...sessionTiming };
		// 5 minutes by default; the code is the same either way.
		sessionTiming.socketTimeoutMs = 3000;
		try {
			const folder = await freshFolder('silent-fetch');
			const state: IDataObject = {};
			const node = trigger(folder, { afterEmit: 'markRead' }, 'silent-fetch');
			const poll = async () => {
				const deadline = new Promise<never>((_, reject) =>
					setTimeout(() => reject(new Error('the poll did not end within 30 s')), 30_000).unref(),
				);
				return subjects(await Promise.race([pollTrigger(node, store, state), deadline]));
			};
			assert.deepEqual(await poll(), []);
			const sent: string[] = [];
			const seen: unknown[] = [];
			for (const command of ['UID SEARCH', 'UID FETCH']) {
				const now = [`${command} 1`, `${command} 2`];
				sent.push(...now);
				await appendMails(
					folder,
					now.map((subject) => ({ subject })),
				);
				proxy.stallOn(command, 3);
				const started = Date.now();
				// Passing trouble is logged, not thrown, twice: nothing is emitted.
				assert.equal((await poll()).length, 0);
				const waited = Date.now() - started;
				assert.ok(
					waited >= 3000,
					`the poll ended ${waited} ms after ${command}, before the timeout`,
				);
				assert.equal((await poll()).length, 0);
				await assert.rejects(poll(), (error: Error & { description?: string }) => {
					assert.match(
						error.message,
						/did not answer during .+ for 3 s: the connection went silent/,
					);
					assert.match(error.message, /3 polls in a row/);
					assert.match(error.description ?? '', /Nothing was lost.*NAT gateways, firewalls/);
					return true;
				});
				// The next poll signs in again and emits them (and ends the trouble).
				seen.push(...(await poll()));
			}
			seen.push(...(await poll()));
			assert.deepEqual(count(sent, seen as string[]), { lost: [], duplicated: [] });
			assert.deepEqual(seen, sent);
			assert.ok((await listFolder(folder)).every((m) => m.flags.includes('\\Seen')));
			// imapflow closes a session it gave up on just after the poll has its error.
			for (let n = 0; n < 50 && proxy.stalledClosed < 6; n++)
				await new Promise((resolve) => setTimeout(resolve, 100));
			assert.equal(proxy.stalledClosed, 6, 'every silent session was closed');
			assert.equal(proxy.connections, 7, 'a new session after each silent one');
		} finally {
			Object.assign(sessionTiming, saved);
			await proxy.stop();
		}
	});

	it('a FETCH answer that leaves out a message still in the folder: the message is emitted all the same, or as an item that says the server did not send it; none passed over, none twice', async () => {
		const proxy = await credentialThroughProxy('omitting');
		try {
			// Sizes first, then the download (the bulk reader: 30 messages); a non-ASCII subject filter
			// is checked on the envelope instead. Left out once (from the sizes, or after them from the
			// download), twice, and every time.
			const cases = [
				{ output: 'full', filters: {}, times: 1, pass: 0 },
				{ output: 'full', filters: {}, times: 1, pass: 1 },
				{ output: 'full', filters: {}, times: 2, pass: 0 },
				{ output: 'full', filters: {}, times: 1000, pass: 0 },
				{ output: 'simple', filters: {}, times: 1, pass: 1 },
				{ output: 'simple', filters: {}, times: 2, pass: 0 },
				{ output: 'simple', filters: {}, times: 1000, pass: 0 },
				{ output: 'full', filters: { subjectContains: 'ö' }, times: 1, pass: 0 },
				{ output: 'full', filters: { subjectContains: 'ö' }, times: 1, pass: 1 },
				{ output: 'simple', filters: { subjectContains: 'ö' }, times: 1000, pass: 0 },
				// Exchange answers `BODY[] NIL` (and OK) for an item it cannot convert to MIME.
				{ output: 'full', filters: {}, times: 0, pass: 0, nil: true },
				{ output: 'simple', filters: {}, times: 0, pass: 0, nil: true },
			];
			for (const { output, filters, times, pass, nil } of cases) {
				const label = `${output}, ${JSON.stringify(filters)}, ${nil ? 'BODY[] NIL' : `left out ${times} times after ${pass}`}`;
				const folder = await freshFolder('omitted');
				const state: IDataObject = {};
				const node = trigger(folder, { output, filters, maxMessages: 100 }, 'omitting');
				assert.deepEqual(await pollTrigger(node, store, state), []);
				const sent = Array.from({ length: 30 }, (_, i) => `omitted ö ${i}`);
				await appendMails(
					folder,
					sent.map((subject) => ({ subject })),
				);
				const target = (await listFolder(folder)).find((m) => m.subject === sent[10])!.uid;
				const omitted = proxy.omitted + proxy.nilled;
				if (nil) proxy.nilBodyOf(target);
				else proxy.omitFetchOf(target, times, pass);
				const seen: IDataObject[] = [];
				for (let poll = 0; poll < 3; poll++)
					seen.push(...(await pollTrigger(node, store, state)).map((item) => item.json));
				proxy.omitFetchOf(target, 0);
				proxy.nilBodyOf(target, false);
				assert.ok(proxy.omitted + proxy.nilled > omitted, `${label}: the proxy changed an answer`);
				const targetId = `:${target}:`;
				const names = seen.map((json) =>
					String(json.id).includes(targetId) ? sent[10] : String(json.subject),
				);
				assert.deepEqual(count(sent, names), { lost: [], duplicated: [] }, label);
				assert.deepEqual(names, sent, `${label}: oldest first`);
				const item = seen[10];
				if (nil) {
					// The envelope comes from the server's metadata; the body never does.
					assert.equal(item.subject, sent[10], label);
					if (item.parseError !== undefined)
						assert.match(String(item.parseError), /did not send/, label);
				} else if (times === 1000) {
					assert.match(String(item.parseError), /did not send/, label);
				} else {
					assert.equal(item.subject, sent[10], label);
					assert.equal(item.parseError, undefined, label);
				}
			}
		} finally {
			await proxy.stop();
		}
	});

	it('a message the server shows only after newer ones (its UID below the cursor by then) is still emitted, once; an unread one that never shows is not waited for', async () => {
		const proxy = await credentialThroughProxy('late');
		try {
			for (const [output, filters] of [
				['full', {}],
				['simple', {}],
				['full', { subjectContains: 'ö' }],
			] as const) {
				const label = `${output}, ${JSON.stringify(filters)}`;
				const folder = await freshFolder('late');
				const state: IDataObject = {};
				const node = trigger(folder, { output, filters }, 'late');
				const poll = async () => subjects(await pollTrigger(node, store, state)).map(String);
				const holes = () =>
					(Object.values(state.folders as IDataObject)[0] as { cursor: { holes?: unknown } }).cursor
						.holes;
				assert.deepEqual(await poll(), []);
				const sent = Array.from({ length: 5 }, (_, i) => `late ö ${i}`);
				await appendMails(
					folder,
					sent.map((subject) => ({ subject })),
				);
				const uid = (await listFolder(folder)).find((m) => m.subject === sent[2])!.uid;
				proxy.hidden.add(uid);
				const seen = await poll();
				assert.deepEqual(seen, [sent[0], sent[1], sent[3], sent[4]], label);
				assert.match(JSON.stringify(holes()), new RegExp(`"uids":"${uid}"`), label);
				seen.push(...(await poll()));
				proxy.hidden.delete(uid);
				seen.push(...(await poll()), ...(await poll()));
				assert.deepEqual(count(sent, seen), { lost: [], duplicated: [] }, label);
				assert.equal(holes(), undefined, `${label}: the hole filled`);

				// Hidden, then expunged: never shown, never emitted; the polls after it go on.
				await appendMails(folder, [{ subject: 'late ö gone' }, { subject: 'late ö after' }]);
				const gone = (await listFolder(folder)).find((m) => m.subject === 'late ö gone')!.uid;
				proxy.hidden.add(gone);
				assert.deepEqual(await poll(), ['late ö after'], label);
				await expungeMails(folder, [gone]);
				proxy.hidden.delete(gone);
				await appendMails(folder, [{ subject: 'late ö last' }]);
				assert.deepEqual(await poll(), ['late ö last'], label);
			}
		} finally {
			await proxy.stop();
		}
	});

	it('Dovecot restarted between polls: no message lost, none emitted twice', async () => {
		const folder = await freshFolder('restart');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		await appendMails(folder, [{ subject: 'r1' }]);
		const first = subjects(await pollTrigger(trigger(folder), store, state));
		await restartDovecot();
		await appendMails(folder, [{ subject: 'r2' }]);
		const second = subjects(await pollTrigger(trigger(folder), store, state));
		assert.deepEqual([...first, ...second], ['r1', 'r2']);
		assert.deepEqual(await pollTrigger(trigger(folder), store, state), []);
	});

	it('a token that expires between polls is refreshed and the rotated refresh token kept', async () => {
		const folder = await freshFolder('expiry');
		store.set('expiring', delegatedCredential(await signIn('alice@example.test', IMAP_SCOPES)));
		const state: IDataObject = {};
		await pollTrigger(trigger(folder, {}, 'expiring'), store, state);
		const stored = store.get('expiring');
		const tokenData = stored.oauthTokenData as IDataObject;
		store.set('expiring', {
			...stored,
			oauthTokenData: { ...tokenData, n8n_expires_at: String(Date.now() - 1000) },
		});
		await appendMails(folder, [{ subject: 'after expiry' }]);
		const writes = store.oauthWrites.length;
		assert.deepEqual(subjects(await pollTrigger(trigger(folder, {}, 'expiring'), store, state)), [
			'after expiry',
		]);
		assert.equal(store.oauthWrites.length, writes + 1);
		const refreshed = store.get('expiring').oauthTokenData as IDataObject;
		assert.notEqual(refreshed.refresh_token, tokenData.refresh_token);
	});

	it('a burst of 500 messages arriving while polls run: each emitted exactly once, in order', async () => {
		const folder = await freshFolder('burst');
		const state: IDataObject = {};
		await pollTrigger(trigger(folder), store, state);
		const total = 500;
		const client = await testImap();
		const serverPath = folder.replace(/^Inbox/, 'INBOX');
		let appended = 0;
		const writer = (async () => {
			try {
				for (let i = 0; i < total; i++) {
					const ok = await client.append(serverPath, await buildMail({ subject: `burst ${i}` }));
					if (!ok) throw new Error('append failed');
					appended++;
				}
			} finally {
				await client.logout();
			}
		})();
		const seen: string[] = [];
		let polls = 0;
		// Bounded by time, not by a count of polls: a poll that finds nothing is quick, and on a busy
		// machine (the other test lane) the writer may need more of them than any fixed count.
		const deadline = Date.now() + 120_000;
		while ((appended < total || seen.length < total) && Date.now() < deadline) {
			const got = subjects(
				await pollTrigger(trigger(folder, { maxMessages: 120 }), store, state),
			) as string[];
			seen.push(...got);
			polls++;
			if (got.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
		}
		await writer;
		// Nothing more comes, also after a re-activation with other parameters.
		seen.push(...(subjects(await pollTrigger(trigger(folder), store, state)) as string[]));
		assert.ok(polls > 3, `polls ran while mail arrived (${polls})`);
		assert.deepEqual(
			seen,
			Array.from({ length: total }, (_, i) => `burst ${i}`),
		);
	});
});

describe('trigger over IMAP: delivery as n8n 2.41 runs polls (one Workflow, saved at emit)', () => {
	const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

	it('a restart after polls that emitted does not emit the same mail again', async () => {
		const folder = await freshFolder('restart');
		const db: IDataObject = {};
		await pollTrigger(trigger(folder), store, db);
		await appendMails(folder, [{ subject: 'r1' }, { subject: 'r2' }]);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder), store, db)), ['r1', 'r2']);
		await appendMails(folder, [{ subject: 'r3' }]);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder), store, db)), ['r3']);
		// n8n restarts: the Workflow is rebuilt from what reached its database.
		restartN8n(db);
		assert.deepEqual(await pollTrigger(trigger(folder), store, db), []);
		await appendMails(folder, [{ subject: 'r4' }]);
		restartN8n(db);
		assert.deepEqual(subjects(await pollTrigger(trigger(folder), store, db)), ['r4']);
	});

	it('a poll that starts while another poll of the node runs returns nothing and changes nothing', async () => {
		const folder = await freshFolder('overlap');
		const db: IDataObject = {};
		await pollTrigger(trigger(folder), store, db);
		await appendMails(
			folder,
			Array.from({ length: 30 }, (_, i) => ({ subject: `o${i}` })),
		);
		const [first, second] = await Promise.all([
			pollTrigger(trigger(folder), store, db),
			pollTrigger(trigger(folder), store, db),
		]);
		const all = [...subjects(first), ...subjects(second)];
		assert.equal(all.length, 30);
		assert.equal(new Set(all).size, 30);
		assert.ok(first.length === 0 || second.length === 0);
		assert.deepEqual(await pollTrigger(trigger(folder), store, db), []);
	});

	it('"mark as read": n8n discards a poll result (workflow re-published meanwhile): nothing is marked, the mail comes again', async () => {
		const folder = await freshFolder('discard');
		const db: IDataObject = {};
		const node = trigger(folder, { afterEmit: 'markRead' });
		await pollTrigger(node, store, db);
		await appendMails(folder, [{ subject: 'd1' }, { subject: 'd2' }]);
		assert.deepEqual(subjects(await discardingPoll(node, store, db)), ['d1', 'd2']);
		assert.deepEqual(
			(await listFolder(folder)).map((m) => m.flags.includes('\\Seen')),
			[false, false],
		);
		assert.deepEqual(subjects(await pollTrigger(node, store, db)), ['d1', 'd2']);
	});

	it('"mark as read": a crash after the emit leaves the mail unread; after the restart it is marked and not emitted again', async () => {
		const folder = await freshFolder('crash');
		const db: IDataObject = {};
		const node = trigger(folder, { afterEmit: 'markRead' });
		await pollTrigger(node, store, db);
		await appendMails(folder, [{ subject: 'c1' }]);
		assert.deepEqual(subjects(await pollTrigger(node, store, db)), ['c1']);
		restartN8n(db);
		assert.deepEqual(await pollTrigger(node, store, db), []);
		assert.deepEqual(
			(await listFolder(folder)).map((m) => m.flags.includes('\\Seen')),
			[true],
		);
	});

	it('at-least-once: mail still unread is emitted again with its attempt; read mail is not; after the last attempt a failed poll names it', async () => {
		const folder = await freshFolder('again');
		const db: IDataObject = {};
		const node = trigger(folder, { options: { redeliverAfterMinutes: 0.01, maxAttempts: 2 } });
		await pollTrigger(node, store, db);
		await appendMails(folder, [{ subject: 'handled' }, { subject: 'fails every time' }]);
		const first = await pollTrigger(node, store, db);
		assert.deepEqual(subjects(first), ['handled', 'fails every time']);
		assert.deepEqual(first[0].json.delivery, {
			attempt: 1,
			firstEmittedAt: (first[0].json.delivery as IDataObject).firstEmittedAt,
		});
		// The workflow marked the first one read (its last step); the second run failed.
		const client = await testImap();
		try {
			await client.mailboxOpen(folder.replace(/^Inbox/, 'INBOX'));
			await client.messageFlagsAdd({ uid: String(first[0].json.uid) }, ['\\Seen'], { uid: true });
		} finally {
			await client.logout();
		}
		await sleep(700);
		restartN8n(db);
		const again = await pollTrigger(node, store, db);
		assert.deepEqual(subjects(again), ['fails every time']);
		assert.equal((again[0].json.delivery as IDataObject).attempt, 2);
		assert.equal(
			(again[0].json.delivery as IDataObject).firstEmittedAt,
			(first[1].json.delivery as IDataObject).firstEmittedAt,
		);
		await sleep(700);
		await assert.rejects(pollTrigger(node, store, db), (e: Error & { description?: string }) =>
			/emitted 2 times and are still unread/.test(e.message),
		);
		assert.deepEqual(await pollTrigger(node, store, db), []);
	});

	it('at-least-once across a folder rebuilt (new UIDVALIDITY): a message still unread is emitted again under its new UID (found by Message-ID), its attempts counted on, never as new mail; a read one is not', async () => {
		const folder = await freshFolder('again-rebuilt');
		const db: IDataObject = {};
		const node = trigger(folder, { options: { redeliverAfterMinutes: 0.01, maxAttempts: 5 } });
		const poll = async () =>
			(await pollTrigger(node, store, db)).map(
				(i) => `${String(i.json.subject)} #${String((i.json.delivery as IDataObject).attempt)}`,
			);
		await poll();
		await appendMails(folder, [{ subject: 'handled' }, { subject: 'fails' }]);
		const markRead = async (uid: string) => {
			const client = await testImap();
			try {
				await client.mailboxOpen(folder.replace(/^Inbox/, 'INBOX'));
				await client.messageFlagsAdd({ uid }, ['\\Seen'], { uid: true });
			} finally {
				await client.logout();
			}
		};
		const first = await pollTrigger(node, store, db);
		assert.deepEqual(subjects(first), ['handled', 'fails']);
		await markRead(String(first[0].json.uid));
		// The server rebuilds the folder (flags and received times kept, new UIDs); new mail comes.
		await recreateFolder(folder);
		await appendMails(folder, [{ subject: 'after the rebuild' }]);
		await sleep(700);
		restartN8n(db);
		const again = await pollTrigger(node, store, db);
		assert.deepEqual(subjects(again), ['fails', 'after the rebuild']);
		assert.equal((again[0].json.delivery as IDataObject).attempt, 2);
		assert.equal(
			(again[0].json.delivery as IDataObject).firstEmittedAt,
			(first[1].json.delivery as IDataObject).firstEmittedAt,
		);
		assert.notEqual(again[0].json.uidValidity, first[1].json.uidValidity, 'under its new UID');
		await sleep(700);
		assert.deepEqual(await poll(), ['fails #3', 'after the rebuild #2']);
		await markRead('1:*');
		await sleep(700);
		assert.deepEqual(await poll(), []);
	});

	it('a message the server refuses to FETCH is emitted with a parseError and does not block the ones after it', async () => {
		const { pollNewMessages } = await import('../../nodes/M365Mail/transport/imap/poll');
		const folder = await freshFolder('refused');
		await appendMails(
			folder,
			['first', 'refused', 'after it'].map((subject) => ({ subject })),
		);
		const client = await testImap();
		// Exchange answers NO to a FETCH of some damaged items: a batch that contains UID 2 is refused.
		const original = client.fetchAll.bind(client);
		(client as unknown as Record<string, unknown>).fetchAll = async (
			range: number[],
			query: Record<string, unknown>,
			options: unknown,
		) => {
			if (query.source && range.includes(2))
				throw new Error('Command failed: NO item could not be read');
			return await original(range as never, query as never, options as never);
		};
		try {
			// The one-pass download, and the envelope path (a To filter is checked on the envelope).
			for (const filters of [{}, { to: ['alice@'] }]) {
				const outcome = await pollNewMessages(client, {
					mailbox: 'alice@example.test',
					folder,
					startFrom: 'existing',
					filters,
					maxMessages: 50,
					content: 'parsed',
				});
				assert.deepEqual(
					outcome.messages.map((m) => [m.message.subject, Boolean(m.message.parseError)]),
					[
						['first', false],
						['refused', true],
						['after it', false],
					],
				);
				assert.match(String(outcome.messages[1].message.parseError), /refused to send/);
			}
		} finally {
			await client.logout();
		}
	});

	it('a selected message the download left out is read again when it is still in the folder, and left out when it is gone (expunged meanwhile)', async () => {
		const { accountFor } = await import('../../nodes/M365Mail/transport/imap/isolated');
		const { withFolder } = await import('../../nodes/M365Mail/transport/imap/lock');
		const folder = await freshFolder('gone');
		await appendMails(folder, [{ subject: 'still here' }, { subject: 'expunged' }]);
		const [here, gone] = await listFolder(folder);
		const client = await testImap();
		try {
			await withFolder(client, 'alice@example.test', folder, { readOnly: false }, async (open) => {
				assert.equal(await client.messageDelete(String(gone.uid), { uid: true }), true);
				const leftOut: number[] = [];
				const messages = await accountFor(
					open,
					[here.uid, gone.uid],
					[],
					{ content: 'parsed' },
					undefined,
					leftOut,
				);
				assert.deepEqual(
					messages.map((m) => [m.message.uid, m.message.subject, m.message.parseError]),
					[[here.uid, 'still here', undefined]],
				);
				// Only the one still there counts as left out (for the log).
				assert.deepEqual(leftOut, [here.uid]);
			});
		} finally {
			await client.logout();
		}
	});

	it('a subject filter with non-ASCII text (Exchange refuses it in SEARCH) is matched on the envelope', async () => {
		const folder = await freshFolder('utf8');
		const db: IDataObject = {};
		const node = trigger(folder, { filters: { subjectContains: 'Größe' } });
		await pollTrigger(node, store, db);
		await appendMails(folder, [{ subject: 'Rechnung Größe M' }, { subject: 'Rechnung' }]);
		assert.deepEqual(subjects(await pollTrigger(node, store, db)), ['Rechnung Größe M']);
	});

	it('the memory budget: a poll stops taking mail once its size passes the budget, the next goes on', async () => {
		const folder = await freshFolder('budget');
		const db: IDataObject = {};
		const node = trigger(folder, { options: { pollBudgetMb: 1 } });
		await pollTrigger(node, store, db);
		const big = (n: number) => ({ subject: `big ${n}`, text: 'x'.repeat(600 * 1024) });
		await appendMails(folder, [big(1), big(2), big(3)]);
		const polls = [];
		for (let i = 0; i < 4; i++) polls.push(subjects(await pollTrigger(node, store, db)));
		assert.deepEqual(polls, [['big 1'], ['big 2'], ['big 3'], []]);
	});
});

describe('trigger over IMAP: cost of a poll', () => {
	it('when nothing is new, a poll opens one connection and sends no SEARCH and no FETCH; new unread mail costs one SEARCH', async () => {
		const { pollNewMessages } = await import('../../nodes/M365Mail/transport/imap/poll');
		const folder = await freshFolder('idle');
		await appendMails(folder, [{ subject: 'already seen by the cursor' }]);
		const client = await testImap();
		const calls: string[] = [];
		for (const method of ['search', 'fetch', 'fetchAll', 'fetchOne'] as const) {
			const original = client[method].bind(client) as (...args: unknown[]) => unknown;
			(client as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
				calls.push(method);
				return original(...args);
			};
		}
		try {
			const options = {
				mailbox: 'alice@example.test',
				folder,
				startFrom: 'existing' as const,
				filters: {},
				maxMessages: 50,
				content: 'summary' as const,
				afterEmit: { action: 'none' as const },
			};
			const first = await pollNewMessages(client, options);
			assert.equal(first.messages.length, 1);
			assert.ok(calls.includes('search') && calls.includes('fetchAll'));
			calls.length = 0;
			const idle = await pollNewMessages(client, { ...options, cursor: first.cursor });
			assert.equal(idle.messages.length, 0);
			assert.deepEqual(calls, []);

			// New unread mail: one SEARCH finds it, and every UID it passed is known to be there.
			await appendMails(folder, [{ subject: 'n1' }, { subject: 'n2' }]);
			const fresh = await pollNewMessages(client, { ...options, cursor: idle.cursor });
			assert.deepEqual(
				fresh.messages.map((m) => m.message.subject),
				['n1', 'n2'],
			);
			assert.equal(calls.filter((c) => c === 'search').length, 1);
			assert.equal(fresh.cursor.holes, undefined);
			// A read message among it: one more SEARCH asks whether the UID it passed is there (it is).
			calls.length = 0;
			await appendMails(folder, [{ subject: 'read' }], undefined, ['\\Seen']);
			await appendMails(folder, [{ subject: 'n3' }]);
			const mixed = await pollNewMessages(client, { ...options, cursor: fresh.cursor });
			assert.deepEqual(
				mixed.messages.map((m) => m.message.subject),
				['n3'],
			);
			assert.equal(calls.filter((c) => c === 'search').length, 2);
			assert.equal(mixed.cursor.holes, undefined);
		} finally {
			await client.logout();
		}
	});
});

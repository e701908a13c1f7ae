/**
 * The bulk FETCH reader (transport/imap/bulk.ts) against the real server: the same messages, byte for
 * byte, with the same UID, flags, size and received time as imapflow reads them, for the hostile and
 * the well-formed corpus and for mail whose body looks like IMAP; the session keeps working after it,
 * and learns what the server told it meanwhile (new mail, flag changes); a refused FETCH leaves it
 * usable; a download stopped early closes it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type { FetchMessageObject, ImapFlow } from 'imapflow';

import {
	bulkFetch,
	canBulkFetch,
	type BulkMessage,
} from '../../nodes/M365Mail/transport/imap/bulk';
import { fetchSizes, fetchWhole } from '../../nodes/M365Mail/transport/imap/fetch';
import { readingFolder } from '../../nodes/M365Mail/transport/imap/lock';
import { hostileCorpus } from '../fixtures/hostile';
import { wellFormedCorpus } from '../fixtures/wellformed';
import { appendMails, freshFolder, testImap } from '../harness/mail';

const IMAP_LOOKING = Buffer.from(
	[
		'Subject: looks like IMAP',
		'Content-Type: text/plain',
		'',
		'* 1 FETCH (UID 1 BODY[] {5}',
		'hello)',
		'M365B0 OK Fetch completed.',
		'A1 BAD nothing',
		'{99999999}',
		')',
		'',
	].join('\r\n'),
);

const serverPath = (folder: string) => `INBOX/${folder.split('/')[1]}`;

async function bulk(client: ImapFlow, uids: number[], query: 'whole' | 'sizes' = 'whole') {
	const got: BulkMessage[] = [];
	for await (const group of bulkFetch(client, uids, query)) got.push(...group);
	return got.sort((a, b) => a.uid - b.uid);
}

describe('bulk FETCH reader, against the server', () => {
	let folder = '';
	let uids: number[] = [];
	let client: ImapFlow;

	before(async () => {
		const corpus = [...hostileCorpus(), ...(await wellFormedCorpus())].map((m) => m.raw);
		folder = await freshFolder('bulk');
		uids = await appendMails(folder, [...corpus, IMAP_LOOKING, IMAP_LOOKING]);
		// Flags differ from message to message, so a mix-up would show.
		const setter = await testImap();
		try {
			const lock = await setter.getMailboxLock(serverPath(folder));
			try {
				await setter.messageFlagsAdd(uids.filter((_, i) => i % 3 === 0).join(','), ['\\Seen'], {
					uid: true,
				});
				await setter.messageFlagsAdd(uids.filter((_, i) => i % 4 === 0).join(','), ['$Custom'], {
					uid: true,
				});
			} finally {
				lock.release();
			}
		} finally {
			await setter.logout();
		}
		client = await testImap();
	});

	after(async () => {
		await client?.logout().catch(() => undefined);
	});

	it('reads every message as imapflow does, byte for byte', async () => {
		const lock = await client.getMailboxLock(serverPath(folder), { readOnly: true });
		try {
			const theirs: FetchMessageObject[] = (
				await client.fetchAll(
					uids.join(','),
					{ uid: true, flags: true, internalDate: true, size: true, source: true },
					{ uid: true },
				)
			).sort((a, b) => a.uid - b.uid);
			assert.ok(canBulkFetch(client));
			const ours = await bulk(client, uids);
			assert.equal(ours.length, uids.length);
			assert.equal(theirs.length, uids.length);
			const differences: string[] = [];
			for (let i = 0; i < ours.length; i++) {
				const [a, b] = [ours[i], theirs[i]];
				if (
					a.uid !== b.uid ||
					!a.source?.equals(b.source!) ||
					a.size !== b.size ||
					a.internalDate?.getTime() !== new Date(b.internalDate!).getTime() ||
					[...a.flags].sort().join(' ') !== [...(b.flags ?? [])].sort().join(' ')
				)
					differences.push(`uid ${b.uid}`);
			}
			assert.deepEqual(differences, []);
			assert.ok(ours.some((m) => m.flags.has('$Custom') && m.flags.has('\\Seen')));
			const sizes = await bulk(client, uids, 'sizes');
			assert.deepEqual(
				sizes.map((m) => [m.uid, m.size]),
				theirs.map((m) => [m.uid, m.size]),
			);
			// The session goes on as before.
			assert.equal(client.usable, true);
			const all = await client.search({ all: true }, { uid: true });
			assert.equal(all && all.length, uids.length);
		} finally {
			lock.release();
		}
	});

	it('hands the session what the server said meanwhile (new mail, a flag change)', async () => {
		const lock = await client.getMailboxLock(serverPath(folder), { readOnly: true });
		try {
			const before = client.mailbox ? client.mailbox.exists : 0;
			// Another session changes the folder; the server tells ours with its next command.
			const [added] = await appendMails(folder, [IMAP_LOOKING]);
			const other = await testImap();
			try {
				const l = await other.getMailboxLock(serverPath(folder));
				try {
					await other.messageFlagsAdd(String(uids[1]), ['\\Flagged'], { uid: true });
				} finally {
					l.release();
				}
			} finally {
				await other.logout();
			}
			const ours = await bulk(client, uids.slice(0, 25));
			assert.equal(ours.length, 25);
			assert.ok(ours[1].flags.has('\\Flagged'), 'the message itself comes with its new flag');
			// imapflow read the EXISTS we passed on, and its session still works.
			await client.noop();
			assert.equal(client.mailbox && client.mailbox.exists, before + 1);
			const last = await client.fetchOne('*', { uid: true }, { uid: false });
			assert.equal(last && last.uid, added);
		} finally {
			lock.release();
		}
	});

	it('a download of 20 or more goes by the bulk reader; fewer by imapflow; the same messages', async () => {
		const original = client.fetchAll.bind(client);
		let imapflowFetches = 0;
		client.fetchAll = ((...args: Parameters<ImapFlow['fetchAll']>) => {
			imapflowFetches++;
			return original(...args);
		}) as ImapFlow['fetchAll'];
		try {
			await readingFolder(client, { mailbox: '', folder }, async (open) => {
				const read = async (list: number[]) => {
					const got: Array<[number, string]> = [];
					for await (const m of fetchWhole(open, list))
						got.push([m.metadata.uid, m.metadata.envelope.subject ?? '']);
					return got;
				};
				const many = uids.slice(0, 20);
				const bulkRead = await read(many);
				const sizes = await fetchSizes(open, many);
				assert.equal(
					imapflowFetches,
					0,
					'neither the sizes nor the messages went through imapflow',
				);
				assert.equal(sizes.length, 20);
				const few = uids.slice(0, 19);
				const imapflowRead = await read(few);
				assert.ok(imapflowFetches > 0);
				assert.deepEqual(imapflowRead, bulkRead.slice(0, 19));
			});
		} finally {
			client.fetchAll = original;
		}
	});

	it('a refused FETCH leaves the session usable', async () => {
		const lock = await client.getMailboxLock(serverPath(folder), { readOnly: true });
		try {
			// UID 0 is not a UID: the server refuses the command.
			await assert.rejects(
				bulk(client, [0]),
				(e: Error & { kind?: string }) =>
					/refused the download/.test(e.message) && e.kind === 'input',
			);
			assert.equal(client.usable, true);
			assert.equal((await bulk(client, uids.slice(0, 3))).length, 3);
		} finally {
			lock.release();
		}
	});

	it('a download stopped early closes the session; a new one reads everything', async () => {
		const broken = await testImap();
		const lock = await broken.getMailboxLock(serverPath(folder), { readOnly: true });
		for await (const group of bulkFetch(broken, uids)) {
			assert.ok(group.length > 0);
			break;
		}
		lock.release();
		assert.equal(broken.usable, false);
		const fresh = await testImap();
		try {
			const l = await fresh.getMailboxLock(serverPath(folder), { readOnly: true });
			try {
				assert.equal((await bulk(fresh, uids)).length, uids.length);
			} finally {
				l.release();
			}
		} finally {
			await fresh.logout();
		}
	});
});

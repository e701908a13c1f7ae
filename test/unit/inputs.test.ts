/**
 * Parameters as people type them: dates in the workflow's time zone, address lists with names, folder
 * names and the folders a rename or delete may change.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { ImapFlow } from 'imapflow';

import { parameterDate } from '../../nodes/M365Mail/shared/dates';
import { MailServiceError } from '../../nodes/M365Mail/transport/auth/errors';
import { deleteImapFolder } from '../../nodes/M365Mail/transport/imap/folders';
import {
	checkFolderName,
	isInside,
	refuseMoveInto,
	refuseWellKnown,
} from '../../nodes/M365Mail/transport/folders';
import { splitAddresses } from '../../nodes/M365Mail/transport/mime/addresses';
import { htmlToPlainText } from '../../nodes/M365Mail/transport/mime/text';
import type { MailFolder } from '../../nodes/M365Mail/transport/types';

const inZone = (zone: string) => ({ getTimezone: () => zone });

describe('dates typed into parameters', () => {
	it('a date without an offset is local time in the workflow’s time zone, not the server’s', () => {
		assert.equal(
			parameterDate(
				inZone('America/New_York'),
				'2026-12-01T00:00:00',
				'Received After',
			)?.toISOString(),
			'2026-12-01T05:00:00.000Z',
		);
		assert.equal(
			parameterDate(inZone('Europe/Berlin'), '2026-07-01 12:00', 'x')?.toISOString(),
			'2026-07-01T10:00:00.000Z',
		);
		assert.equal(
			parameterDate(inZone('Asia/Tokyo'), '2026-12-01T00:00:00Z', 'x')?.toISOString(),
			'2026-12-01T00:00:00.000Z',
		);
		assert.equal(parameterDate(inZone('UTC'), '', 'x'), undefined);
	});

	it('a value that is not a date names the field and the time zone, without echoing the value', () => {
		assert.throws(
			() => parameterDate(inZone('Europe/Paris'), 'next tuesday-ish secret', 'the Due Date'),
			(e: Error & { fix?: string }) =>
				/the Due Date is not a date/.test(e.message) &&
				/Europe\/Paris/.test(e.fix ?? '') &&
				!e.message.includes('secret'),
		);
	});
});

describe('address lists', () => {
	it('a quoted name with a comma stays one address; ; and , both separate', async () => {
		assert.deepEqual(
			await splitAddresses('"Doe, John" <john@example.com>; jane@example.com, Bob <bob@x.test>'),
			['"Doe, John" <john@example.com>', 'jane@example.com', '"Bob" <bob@x.test>'],
		);
		assert.deepEqual(await splitAddresses(''), []);
		assert.deepEqual(await splitAddresses(['a@x.test', 'b@x.test']), ['a@x.test', 'b@x.test']);
	});
});

describe('HTML-only mail', () => {
	it('gets a plain-text rendering', async () => {
		assert.equal(
			await htmlToPlainText(
				'<p>Hello <b>there</b></p><p><a href="https://x.test">Link</a><img src="x.png"></p>',
			),
			'Hello there\n\nLink',
		);
	});
});

describe('folders to rename or delete, and new folder names', () => {
	const folders: MailFolder[] = [
		{ path: 'Inbox', name: 'Inbox', wellKnownName: 'inbox' },
		{ path: 'Inbox/Customers', name: 'Customers' },
		{ path: 'Projects', name: 'Projects' },
		{ path: 'Projects/Archive', name: 'Archive', wellKnownName: 'archive' },
		{ path: 'Projectsold', name: 'Projectsold' },
	];
	const refusal = (path: string, verb: 'rename' | 'delete') => {
		try {
			refuseWellKnown(folders.find((f) => f.path === path)!, folders, verb);
			return undefined;
		} catch (error) {
			return (error as Error).message;
		}
	};

	it('a folder that holds a well-known one (here Archive, kept in a folder) is refused, as the folder itself is; its neighbours are not', () => {
		assert.match(
			refusal('Projects', 'delete')!,
			/holds the mailbox's Archive folder \("Projects\/Archive"\)/,
		);
		assert.match(refusal('Projects', 'rename')!, /cannot be renamed/);
		assert.match(refusal('Projects/Archive', 'delete')!, /is the mailbox's Archive folder/);
		assert.match(refusal('Inbox', 'delete')!, /is the mailbox's Inbox folder/);
		assert.equal(refusal('Projectsold', 'delete'), undefined, 'a name that only starts the same');
		assert.equal(refusal('Inbox/Customers', 'delete'), undefined);
		assert.ok(isInside('Inbox/Customers', 'inbox') && !isInside('Inboxes', 'Inbox'));
	});

	it('a folder does not move into itself or below itself; a folder whose name only starts the same is no subfolder', () => {
		const at = (path: string) => folders.find((f) => f.path === path)!;
		assert.throws(() => refuseMoveInto(at('Projects'), at('Projects')), /into itself/);
		assert.throws(
			() => refuseMoveInto(at('Projects'), at('Projects/Archive')),
			/into its own subfolder "Projects\/Archive"/,
		);
		assert.doesNotThrow(() => refuseMoveInto(at('Projects'), at('Projectsold')));
		assert.doesNotThrow(() => refuseMoveInto(at('Projectsold'), at('Projects')));
	});

	it('a new name is one trimmed level: no "/", no server delimiter, no control characters, not empty, at most 255 characters', () => {
		assert.equal(checkFolderName('  Customers 2026 '), 'Customers 2026');
		assert.equal(checkFolderName('Ünïcødé ✓'), 'Ünïcødé ✓');
		for (const [name, delimiter, message] of [
			['a/b', '/', /has "\/" in it/],
			['a.b', '.', /has "\." in it/],
			['x\r\nA1 DELETE INBOX', '/', /control character/],
			['nul\u0000', '/', /control character/],
			['del\u007f', '/', /control character/],
			[' \t ', '/', /is empty/],
			['x'.repeat(256), '/', /256 characters long/],
		] as const)
			assert.throws(() => checkFolderName(name, delimiter), message);
		assert.equal(checkFolderName('a.b', '/'), 'a.b', 'a dot is a name where "/" is the delimiter');
	});
});

describe('deleting a folder over IMAP on a server without Deleted Items', () => {
	it('is refused with the fix (Delete Permanently), and no command that changes a folder is sent', async () => {
		const entry = (path: string, specialUse?: string) => ({
			path,
			name: path.split('/').pop()!,
			delimiter: '/',
			flags: new Set<string>(),
			specialUse,
			subscribed: true,
		});
		const changes: string[] = [];
		const client = {
			list: async () => [entry('INBOX'), entry('Sent', '\\Sent'), entry('Projects')],
			mailboxRename: async (from: string) => changes.push(`RENAME ${from}`),
			mailboxDelete: async (path: string) => changes.push(`DELETE ${path}`),
		} as unknown as ImapFlow;
		await assert.rejects(
			deleteImapFolder(client, 'alice@example.test', 'Projects', false),
			(error: MailServiceError) =>
				/has no Deleted Items folder/.test(error.message) && /Delete Permanently/.test(error.fix),
		);
		assert.deepEqual(changes, []);
		await deleteImapFolder(client, 'alice@example.test', 'Projects', true);
		assert.deepEqual(changes, ['DELETE Projects'], 'with Delete Permanently it goes');
	});
});

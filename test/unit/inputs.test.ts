/** Parameters as people type them: dates in the workflow's time zone, address lists with names. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parameterDate } from '../../nodes/M365Mail/shared/dates';
import { splitAddresses } from '../../nodes/M365Mail/transport/mime/addresses';
import { htmlToPlainText } from '../../nodes/M365Mail/transport/mime/text';

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

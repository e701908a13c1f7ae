import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
	attachmentName,
	safeFileName,
	safeMimeType,
} from '../../nodes/M365Mail/transport/mime/filename';

/** What every name the rule returns must satisfy. */
function assertSafe(name: string): void {
	assert.ok(name.length > 0, 'not empty');
	assert.ok(!/[/\\]/.test(name), `no path separator: ${JSON.stringify(name)}`);
	assert.ok(
		!/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(name),
		`no control/bidi/format: ${JSON.stringify(name)}`,
	);
	assert.ok(!/[<>:"|?*]/.test(name), `no Windows-forbidden character: ${JSON.stringify(name)}`);
	assert.ok(
		!name.startsWith('.') && !name.startsWith(' '),
		`no leading dot: ${JSON.stringify(name)}`,
	);
	assert.ok(!/[. ]$/.test(name), `no trailing dot or space: ${JSON.stringify(name)}`);
	assert.ok(Buffer.byteLength(name) <= 255, `at most 255 bytes: ${Buffer.byteLength(name)}`);
	assert.ok(!/^(con|prn|aux|nul|com\d|lpt\d)(\.|$)/i.test(name), `no device name: ${name}`);
}

describe('attachment names', () => {
	it('a path keeps only its last segment', () => {
		assert.equal(safeFileName('../../../home/node/.n8n/config', 0), 'config');
		assert.equal(safeFileName('..\\..\\Windows\\system32\\evil.dll', 0), 'evil.dll');
		assert.equal(safeFileName('../..', 2), 'attachment-3');
	});

	it('control, bidi and zero-width characters are removed: the real extension shows', () => {
		assert.equal(safeFileName('invoice\u202Efdp.exe', 0), 'invoicefdp.exe');
		assert.equal(safeFileName('a\u0000b\r\nc.txt', 0), 'abc.txt');
		assert.equal(safeFileName('\u200Bhidden\u2066.pdf', 0), 'hidden.pdf');
	});

	it('no leading dots, Windows device names mapped, forbidden characters replaced', () => {
		assert.equal(safeFileName('.bashrc', 0), 'bashrc');
		assert.equal(safeFileName('CON.txt', 0), '_CON.txt');
		assert.equal(safeFileName('lpt1', 0), '_lpt1');
		assert.equal(safeFileName('a:b|c?.txt', 0), 'a_b_c_.txt');
	});

	it('at most 255 bytes of UTF-8, the extension kept', () => {
		const long = safeFileName(`${'a'.repeat(1004)}.pdf`, 0);
		assert.equal(Buffer.byteLength(long), 255);
		assert.ok(long.endsWith('.pdf'));
		const wide = safeFileName(`${'ü'.repeat(300)}.docx`, 0);
		assert.ok(Buffer.byteLength(wide) <= 255 && wide.endsWith('.docx'));
	});

	it('the original is kept as originalFileName only when it changed', () => {
		assert.deepEqual(attachmentName('report.csv', 0), { filename: 'report.csv' });
		assert.deepEqual(attachmentName('../x.csv', 0), {
			filename: 'x.csv',
			originalFileName: '../x.csv',
		});
		assert.deepEqual(attachmentName(undefined, 4), { filename: 'attachment-5' });
	});

	it('any hostile name comes out safe (5,000 random names from a hostile alphabet)', () => {
		const alphabet = [
			'.',
			'/',
			'\\',
			'\u0000',
			'\r',
			'\n',
			'\u202E',
			'\u2066',
			'\u200B',
			' ',
			':',
			'*',
			'a',
			'ü',
			'😀',
			'CON',
			'nul',
			'.exe',
			'..',
			'\u00AD',
			'\u2028',
		];
		let seed = 42;
		const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
		for (let i = 0; i < 5000; i++) {
			const length = Math.floor(random() * 400);
			let name = '';
			for (let j = 0; j < length; j++) name += alphabet[Math.floor(random() * alphabet.length)];
			assertSafe(safeFileName(name, i));
		}
	});

	it('the MIME type given to n8n is the declared one only where it is valid; otherwise by extension', () => {
		assert.equal(safeMimeType('Text/CSV; charset=utf-8', 'a.csv'), 'text/csv');
		assert.equal(safeMimeType('evil\r\nX-Injected: 1', 'a.pdf'), 'application/pdf');
		assert.equal(safeMimeType('', 'noext'), 'application/octet-stream');
	});
});

/**
 * Send and Wait for Response without n8n around it: the webhook's answers to a GET and a POST, the
 * pages' escaping, and the time limit. Real n8n runs it end to end in test/e2e/n8n-imap.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
	WAIT_INDEFINITELY,
	type IDataObject,
	type IExecuteFunctions,
	type IWebhookFunctions,
} from 'n8n-workflow';

import { respond } from '../../nodes/M365Mail/actions/message/response';
import { MAX_ANSWER } from '../../nodes/M365Mail/actions/message/responsePages';
import { waitTill } from '../../nodes/M365Mail/actions/message/sendAndWait.operation';

const HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>';

/** A request to a link of the mail, as n8n hands it to the webhook after checking its signature. */
function request(
	method: string,
	parameters: IDataObject,
	{ approved = 'true', body = {} as IDataObject } = {},
) {
	const sent = { status: 0, headers: {} as Record<string, string>, body: '' };
	const res = {
		status(code: number) {
			sent.status = code;
			return res;
		},
		setHeader(name: string, value: string) {
			sent.headers[name.toLowerCase()] = value;
		},
		send(text: string) {
			sent.body = text;
		},
	};
	const ctx = {
		getRequestObject: () => ({ method, query: { approved, signature: 'checked-by-n8n' } }),
		getResponseObject: () => res,
		getBodyData: () => body,
		getNodeParameter: (name: string, fallback: unknown) => {
			const value = name
				.split('.')
				.reduce<unknown>((at, key) => (at as IDataObject | undefined)?.[key], parameters);
			return value ?? fallback;
		},
	} as unknown as IWebhookFunctions;
	return { run: () => respond.call(ctx), sent };
}

const approval = {
	responseType: 'approval',
	subject: `Refund ${HOSTILE}`,
	message: `Line one\n${HOSTILE}`,
	approvalOptions: { values: { approvalType: 'double', disapproveLabel: `No ${HOSTILE}` } },
};

describe('Send and Wait for Response: the webhook', () => {
	for (const method of ['GET', 'HEAD']) {
		it(`a ${method} (what a mail scanner or a link preview sends) shows the page and records nothing`, async () => {
			for (const approved of ['true', 'false']) {
				const { run, sent } = request(method, approval, { approved });
				const result = await run();
				assert.deepEqual(result, { noWebhookResponse: true }, 'no workflowData: nothing resumes');
				assert.equal(sent.status, 200);
				assert.match(sent.body, /<form method="post">/);
				assert.match(sent.body, approved === 'true' ? />Approve<\/button>/ : />No &lt;script&gt;/);
			}
		});
	}

	it('the page shows the subject, message and labels as text, and forbids scripts and frames', async () => {
		const { run, sent } = request('GET', approval, { approved: 'false' });
		await run();
		assert.ok(!sent.body.includes('<script>') && !sent.body.includes('<img'), sent.body);
		assert.ok(sent.body.includes('Refund &lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;'));
		assert.ok(sent.body.includes('Line one<br>&lt;script&gt;'));
		assert.match(sent.headers['content-security-policy'], /default-src 'none'/);
		assert.match(sent.headers['content-security-policy'], /frame-ancestors 'none'/);
		assert.equal(sent.headers['cache-control'], 'no-store');
		assert.match(sent.headers['content-type'], /^text\/html; charset=utf-8/);
	});

	it("a POST records the answer the signed link carries: approved or declined, with n8n's item shape", async () => {
		for (const approved of [true, false]) {
			const { run, sent } = request('POST', approval, { approved: String(approved) });
			const result = await run();
			const item = result.workflowData?.[0]?.[0]?.json as { data: IDataObject };
			assert.equal(item.data.approved, approved);
			assert.ok(Math.abs(Date.parse(String(item.data.respondedAt)) - Date.now()) < 5000);
			assert.equal(result.noWebhookResponse, true, 'the page is sent by the node, once');
			assert.match(sent.body, /Answer recorded/);
		}
	});

	it('free text: the page has the form; an empty or overlong answer is asked again, nothing recorded; an answer is recorded as written', async () => {
		const freeText = { responseType: 'freeText', subject: 'When?', message: 'Pick a day' };
		const form = request('GET', freeText);
		await form.run();
		assert.match(
			form.sent.body,
			/<textarea id="response" name="response" rows="6" maxlength="100000" required>/,
		);
		for (const [body, status] of [
			[{}, 400],
			[{ response: '  \n ' }, 400],
			[{ response: ['a', 'b'] }, 400],
			[{ response: 'x'.repeat(MAX_ANSWER + 1) }, 413],
		] as const) {
			const { run, sent } = request('POST', freeText, { body: body as IDataObject });
			assert.deepEqual(await run(), { noWebhookResponse: true });
			assert.equal(sent.status, status);
			assert.match(sent.body, /<textarea/);
		}
		const text = `Tuesday\r\n${HOSTILE}`;
		const { run } = request('POST', freeText, { body: { response: text } });
		const item = (await run()).workflowData?.[0]?.[0]?.json as { data: IDataObject };
		assert.equal(item.data.text, text);
	});
});

describe('Send and Wait for Response: the time limit', () => {
	const ctx = (limit: IDataObject) =>
		({
			getNodeParameter: (name: string) => {
				assert.equal(name, 'options.limitWaitTime.values');
				return limit;
			},
			getNode: () => ({ name: 'Ask' }),
		}) as unknown as IExecuteFunctions;
	const now = Date.parse('2026-12-06T12:00:00Z');

	it('none: n8n waits indefinitely', () => {
		assert.equal(waitTill(ctx({}), now), WAIT_INDEFINITELY);
	});

	it('an interval in minutes, hours or days, or a date', () => {
		const after = (resumeAmount: number, resumeUnit: string) =>
			waitTill(ctx({ limitType: 'afterTimeInterval', resumeAmount, resumeUnit }), now).getTime() -
			now;
		assert.equal(after(45, 'minutes'), 45 * 60_000);
		assert.equal(after(1.5, 'hours'), 90 * 60_000);
		assert.equal(after(2, 'days'), 48 * 3_600_000);
		const at = '2026-12-24T09:00:00Z';
		assert.equal(
			waitTill(ctx({ limitType: 'atSpecifiedTime', maxDateAndTime: at }), now).toISOString(),
			new Date(at).toISOString(),
		);
	});

	it('a date in the past or not a date is refused with the fix', () => {
		for (const limit of [
			{ limitType: 'atSpecifiedTime', maxDateAndTime: '2020-01-01T00:00:00Z' },
			{ limitType: 'atSpecifiedTime', maxDateAndTime: 'soon' },
			{ limitType: 'afterTimeInterval', resumeAmount: 1, resumeUnit: 'weeks' },
		]) {
			assert.throws(
				() => waitTill(ctx(limit), now),
				(error: Error & { description?: string }) => {
					assert.match(error.message, /not a time to come/);
					assert.match(String(error.description), /Limit Wait Time/);
					return true;
				},
			);
		}
	});
});

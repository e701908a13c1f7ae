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
import {
	customFormFields,
	waitTill,
} from '../../nodes/M365Mail/actions/message/sendAndWait.operation';

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

describe('Send and Wait for Response: the Custom Form', () => {
	const fields = [
		{ fieldLabel: 'Name', fieldType: 'text', requiredField: true, placeholder: HOSTILE },
		{ fieldLabel: 'Notes', fieldType: 'textarea' },
		{ fieldLabel: 'Seats', fieldType: 'number' },
		{ fieldLabel: 'Reply to', fieldType: 'email' },
		{ fieldLabel: 'Start', fieldType: 'date' },
		{
			fieldLabel: 'Team',
			fieldType: 'dropdown',
			fieldOptions: { values: choices('Sales', HOSTILE) },
		},
		{
			fieldLabel: 'Rooms',
			fieldType: 'dropdown',
			multiselect: true,
			fieldOptions: { values: choices('A', 'B') },
		},
		{ fieldLabel: 'Size', fieldType: 'radio', fieldOptions: { values: choices('S', 'M') } },
		{
			fieldLabel: '__proto__',
			fieldType: 'checkbox',
			requiredField: true,
			fieldOptions: { values: choices('x', 'y', 'z') },
		},
	];
	const form = {
		responseType: 'customForm',
		subject: 'Booking',
		message: 'Tell us',
		formFields: { values: fields },
	};
	const answer: IDataObject = {
		'field-0': '  Ada ',
		'field-1': ' line\n',
		'field-2': '3.5',
		'field-3': 'ada@contoso.com',
		'field-4': '2026-12-24',
		'field-5': HOSTILE,
		'field-6': ['B', 'A'],
		'field-7': 'M',
		'field-8': ['z', 'x', 'z'],
	};

	it('the page shows every field, escaped, with nothing chosen; opening it records nothing', async () => {
		for (const parameters of [
			form,
			{ ...form, formFields: undefined, defineForm: 'json', jsonOutput: JSON.stringify(fields) },
		]) {
			const { run, sent } = request('GET', parameters);
			assert.deepEqual(await run(), { noWebhookResponse: true });
			assert.equal(sent.status, 200);
			assert.ok(!sent.body.includes('<script>') && !sent.body.includes('<img'));
			for (const html of [
				// n8n takes a Custom Form's POST as multipart/form-data only (415 otherwise).
				/<form method="post" enctype="multipart\/form-data">/,
				/<label for="field-0">Name \*<\/label><input type="text" id="field-0" name="field-0" maxlength="100000" placeholder="&lt;script&gt;[^"]*" value="" required>/,
				/<textarea id="field-1" name="field-1"/,
				/<input type="number" id="field-2" name="field-2" step="any"/,
				/<input type="email" id="field-3"/,
				/<input type="date" id="field-4"/,
				/<select id="field-5" name="field-5"><option value="">Choose…<\/option><option value="Sales">Sales<\/option><option value="&lt;script&gt;/,
				/<select id="field-6" name="field-6" multiple><option value="A">A<\/option>/,
				/<input type="radio" name="field-7" id="field-7-1" value="M"> M<\/label>/,
				/<legend>__proto__ \*<\/legend><label class="choice"><input type="checkbox" name="field-8" id="field-8-0" value="x"> x/,
				/<button type="submit">Send<\/button>/,
			])
				assert.match(sent.body, html);
			assert.ok(!/selected|checked/.test(sent.body), 'nothing chosen before the recipient does');
		}
	});

	it("a POST records each field's answer under its label, in its type", async () => {
		const { run, sent } = request('POST', form, { body: { data: answer } });
		const result = await run();
		const data = (result.workflowData?.[0]?.[0]?.json as { data: IDataObject }).data;
		assert.equal(sent.status, 200);
		assert.ok(Math.abs(Date.parse(String(data.respondedAt)) - Date.now()) < 5000);
		delete data.respondedAt;
		assert.deepEqual(
			{ ...data },
			{
				Name: 'Ada',
				Notes: ' line\n',
				Seats: 3.5,
				'Reply to': 'ada@contoso.com',
				Start: '2026-12-24',
				Team: HOSTILE,
				Rooms: ['B', 'A'],
				Size: 'M',
				['__proto__']: ['z', 'x'],
			},
		);
		assert.ok(Object.hasOwn(data, '__proto__'), 'a label is an own property, never a prototype');
		assert.equal(Object.getPrototypeOf(data), Object.prototype);
		const optional = request('POST', form, {
			body: { data: { 'field-0': 'Ada', 'field-8': 'y' } },
		});
		const empty = ((await optional.run()).workflowData?.[0]?.[0]?.json as { data: IDataObject })
			.data;
		assert.deepEqual(
			[empty.Notes, empty.Seats, empty.Team, empty.Rooms, empty.Size],
			[null, null, null, [], null],
		);
	});

	it('a wrong answer shows the form again with what to change, keeps what was written, and records nothing', async () => {
		for (const [change, error] of [
			[{ 'field-0': '  ' }, /&quot;Name&quot; needs an answer/],
			[{ 'field-8': [] }, /&quot;__proto__&quot; needs at least one choice/],
			[{ 'field-2': '3 seats' }, /&quot;Seats&quot; needs a number/],
			[{ 'field-2': 'Infinity' }, /&quot;Seats&quot; needs a number/],
			[{ 'field-3': 'ada' }, /&quot;Reply to&quot; needs an email address/],
			[{ 'field-4': '2026-02-30' }, /&quot;Start&quot; needs a date, as YYYY-MM-DD/],
			[{ 'field-5': 'Marketing' }, /&quot;Team&quot; has an answer that is not one of its choices/],
			[{ 'field-6': ['A', 'C'] }, /&quot;Rooms&quot; has an answer that is not one/],
			[{ 'field-7': ['S', 'M'] }, /&quot;Size&quot; was answered more than once/],
			[{ 'field-1': 'x'.repeat(MAX_ANSWER + 1) }, /&quot;Notes&quot; is longer than 100,000/],
		] as const) {
			const { run, sent } = request('POST', form, { body: { data: { ...answer, ...change } } });
			assert.deepEqual(await run(), { noWebhookResponse: true }, JSON.stringify(change));
			assert.equal(sent.status, 400);
			assert.match(sent.body, error);
			assert.match(sent.body, /<p class="error">/);
			if (!('field-0' in change)) assert.match(sent.body, /id="field-0" [^>]*value="  Ada "/);
			assert.match(sent.body, /<option value="A" selected>A<\/option>/);
		}
	});

	it("a form's page takes its own title, description and button label (n8n's options), as text; an approval page keeps the subject, message and its labels", async () => {
		const options = {
			responseFormTitle: `Booking ${HOSTILE}`,
			responseFormDescription: `Rooms\n${HOSTILE}`,
			responseFormButtonLabel: `Book ${HOSTILE}`,
		};
		for (const parameters of [
			{ ...form, options },
			{ responseType: 'freeText', subject: 'When?', message: 'Pick a day', options },
		]) {
			const { run, sent } = request('GET', parameters);
			await run();
			assert.ok(!sent.body.includes('<script>') && !sent.body.includes('<img'));
			assert.match(sent.body, /<title>Booking &lt;script&gt;/);
			assert.match(sent.body, /<h1>Booking &lt;script&gt;/);
			assert.match(sent.body, /<p>Rooms<br>&lt;script&gt;/);
			assert.match(sent.body, /<button type="submit">Book &lt;script&gt;/);
			assert.ok(!sent.body.includes('Tell us') && !sent.body.includes('Pick a day'));
		}
		const { run, sent } = request('GET', { ...approval, options });
		await run();
		assert.match(sent.body, /<h1>Refund /);
		assert.match(sent.body, />Approve<\/button>/);
		assert.ok(!sent.body.includes('Booking'));
	});

	it('a form that cannot be shown or answered is refused before the mail goes out, with the fix', () => {
		const ctx = (parameters: IDataObject) =>
			({
				getNodeParameter: (name: string, _item: number, fallback: unknown) =>
					(name === 'formFields.values'
						? (parameters.formFields as IDataObject | undefined)?.values
						: parameters[name]) ?? fallback,
				getNode: () => ({ name: 'Ask' }),
			}) as unknown as IExecuteFunctions;
		assert.equal(customFormFields(ctx(form)).length, fields.length);
		for (const [parameters, message, fix] of [
			[{ formFields: { values: [] } }, /has no fields/, /Add a field/],
			[{ formFields: { values: [{ fieldType: 'text' }] } }, /Field 1 .* no label/, /Label/],
			[
				{ formFields: { values: [...fields, fields[0]] } },
				/Two form fields have the label "Name"/,
				/own label/,
			],
			[
				{ formFields: { values: [{ fieldLabel: 'respondedAt' }] } },
				/"respondedAt"/,
				/another label/,
			],
			[
				{ formFields: { values: [{ fieldLabel: 'CV', fieldType: 'file' }] } },
				/type "file"/,
				/text, textarea/,
			],
			[
				{ formFields: { values: [{ fieldLabel: 'Team', fieldType: 'radio' }] } },
				/empty choice, or none/,
				/choices/,
			],
			[
				{
					formFields: {
						values: [
							{ fieldLabel: 'T', fieldType: 'radio', fieldOptions: { values: choices('a', 'a') } },
						],
					},
				},
				/same choice twice/,
				/once/,
			],
			[
				{ defineForm: 'json', jsonOutput: '{"fieldLabel": "Name"}' },
				/not a JSON array/,
				/fieldLabel/,
			],
			[
				{ defineForm: 'json', jsonOutput: '[1]' },
				/Field 1 of the form is not an object/,
				/fieldLabel/,
			],
		] as const) {
			assert.throws(
				() => customFormFields(ctx(parameters as IDataObject)),
				(error: Error & { description?: string }) => {
					assert.match(error.message, message);
					assert.match(String(error.description), fix);
					return true;
				},
				JSON.stringify(parameters),
			);
		}
	});
});

function choices(...options: string[]) {
	return options.map((option) => ({ option }));
}

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

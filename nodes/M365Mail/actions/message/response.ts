/**
 * The webhook of Send and Wait for Response. n8n calls it for a request to a link of the mail after
 * checking the link's signature (a link changed by hand, such as "approved=true" made "false", is
 * refused by n8n before it gets here), while the execution waits.
 *
 * A GET, which is what a mail scanner or a link preview sends, only shows the page with its button;
 * the answer comes with the button's POST. The answer is `{ data: { approved, respondedAt } }`,
 * `{ data: { text, respondedAt } }` or a Custom Form's `{ data: { <field label>: value, …,
 * respondedAt } }`, the shapes of n8n's own Send and Wait nodes.
 */
import type { IDataObject, IWebhookFunctions, IWebhookResponseData } from 'n8n-workflow';

import { formFields, formHtml, readForm } from './responseForm';
import {
	answerPage,
	approvalLabel,
	freeTextField,
	MAX_ANSWER,
	recordedPage,
} from './responsePages';

/** Our pages load nothing, run no script and post only to themselves, never inside a frame. */
const PAGE_HEADERS: Record<string, string> = {
	'Content-Type': 'text/html; charset=utf-8',
	'Content-Security-Policy':
		"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	'Cache-Control': 'no-store',
	'Referrer-Policy': 'no-referrer',
	'X-Frame-Options': 'DENY',
};

export async function respond(this: IWebhookFunctions): Promise<IWebhookResponseData> {
	const req = this.getRequestObject();
	const res = this.getResponseObject();
	// The page shows what the node asked; a parameter that no longer resolves leaves its place empty.
	const parameter = <T>(name: string, fallback: T): T => {
		try {
			return (this.getNodeParameter(name, fallback) as T) ?? fallback;
		} catch {
			return fallback;
		}
	};
	const responseType = parameter<string>('responseType', 'approval');
	const approved = (req.query as IDataObject).approved === 'true';
	// A form's page may have its own title, description and button label (n8n's option names).
	const form = (what: string) =>
		responseType === 'approval' ? '' : String(parameter(`options.responseForm${what}`, '') || '');
	const subject = form('Title') || String(parameter('subject', ''));
	const message = form('Description') || String(parameter('message', ''));
	const label =
		responseType === 'approval'
			? approvalLabel(parameter<IDataObject>('approvalOptions.values', {}), approved)
			: form('ButtonLabel') || 'Send';
	const show = (status: number, html: string) => {
		res.status(status);
		for (const [name, value] of Object.entries(PAGE_HEADERS)) res.setHeader(name, value);
		res.send(html);
	};
	const ask = (status: number, fields?: string, error?: string): IWebhookResponseData => {
		const multipart = responseType === 'customForm';
		show(status, answerPage({ subject, message, label, fields, multipart, error }));
		return { noWebhookResponse: true };
	};
	const record = (data: IDataObject, page: string): IWebhookResponseData => {
		show(200, recordedPage(page));
		// respondedAt comes last: no answer can set it (a form field may not be named so either).
		const json = { data: { ...data, respondedAt: new Date().toISOString() } };
		return { noWebhookResponse: true, workflowData: [[{ json }]] };
	};

	if (responseType === 'customForm') return await customForm.call(this, ask, record);
	if (responseType !== 'freeText') {
		if (req.method !== 'POST') return ask(200);
		return record({ approved }, `${label}.`);
	}
	if (req.method !== 'POST') return ask(200, freeTextField);
	const answer = (this.getBodyData() as IDataObject).response;
	const text = typeof answer === 'string' ? answer : '';
	if (!text.trim()) return ask(400, freeTextField, 'Write an answer, then press the button.');
	if (text.length > MAX_ANSWER)
		return ask(
			413,
			freeTextField,
			`The answer is longer than ${MAX_ANSWER.toLocaleString('en')} characters: shorten it.`,
		);
	return record({ text }, 'Your answer was sent.');
}

/** The Custom Form: its page on a GET, the answer from its POST (or the form again, with the error). */
async function customForm(
	this: IWebhookFunctions,
	ask: (status: number, fields?: string, error?: string) => IWebhookResponseData,
	record: (data: IDataObject, page: string) => IWebhookResponseData,
): Promise<IWebhookResponseData> {
	let fields;
	try {
		fields = formFields((name, fallback) => this.getNodeParameter(name, fallback));
	} catch (error) {
		// Checked before the mail went out: only a definition that changed since can fail here.
		return ask(500, '', `This form cannot be shown: ${(error as Error).message}.`);
	}
	if (this.getRequestObject().method !== 'POST') return ask(200, formHtml(fields));
	// n8n takes a Custom Form's answer only as multipart/form-data (415 otherwise), and hands the
	// webhook its fields under `data` (a name given more than once as a list).
	const read = readForm(fields, ((this.getBodyData() as IDataObject).data ?? {}) as IDataObject);
	if ('error' in read) return ask(400, formHtml(fields, read.posted), read.error);
	return record(read.answer, 'Your answer was sent.');
}

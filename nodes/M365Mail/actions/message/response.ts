/**
 * The webhook of Send and Wait for Response. n8n calls it for a request to a link of the mail after
 * checking the link's signature (a link changed by hand, such as "approved=true" made "false", is
 * refused by n8n before it gets here), while the execution waits.
 *
 * A GET, which is what a mail scanner or a link preview sends, only shows the page with its button;
 * the answer comes with the button's POST. The answer is `{ data: { approved, respondedAt } }` or
 * `{ data: { text, respondedAt } }`, the shape of n8n's own Send and Wait nodes.
 */
import type { IDataObject, IWebhookFunctions, IWebhookResponseData } from 'n8n-workflow';

import { answerPage, approvalLabel, MAX_ANSWER, recordedPage } from './responsePages';

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
	const freeText = parameter<string>('responseType', 'approval') === 'freeText';
	const approved = (req.query as IDataObject).approved === 'true';
	const subject = String(parameter('subject', ''));
	const message = String(parameter('message', ''));
	const label = freeText
		? 'Send'
		: approvalLabel(parameter<IDataObject>('approvalOptions.values', {}), approved);
	const show = (status: number, html: string) => {
		res.status(status);
		for (const [name, value] of Object.entries(PAGE_HEADERS)) res.setHeader(name, value);
		res.send(html);
	};
	const ask = (status: number, error?: string): IWebhookResponseData => {
		show(status, answerPage({ subject, message, label, freeText, error }));
		return { noWebhookResponse: true };
	};

	if (req.method !== 'POST') return ask(200);
	const respondedAt = new Date().toISOString();
	if (!freeText) {
		show(200, recordedPage(`${label}.`));
		return {
			noWebhookResponse: true,
			workflowData: [[{ json: { data: { approved, respondedAt } } }]],
		};
	}
	const answer = (this.getBodyData() as IDataObject).response;
	const text = typeof answer === 'string' ? answer : '';
	if (!text.trim()) return ask(400, 'Write an answer, then press the button.');
	if (text.length > MAX_ANSWER)
		return ask(
			413,
			`The answer is longer than ${MAX_ANSWER.toLocaleString('en')} characters: shorten it.`,
		);
	show(200, recordedPage('Your answer was sent.'));
	return { noWebhookResponse: true, workflowData: [[{ json: { data: { text, respondedAt } } }]] };
}

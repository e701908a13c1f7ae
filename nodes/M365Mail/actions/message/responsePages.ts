/**
 * What Send and Wait for Response shows: the mail with its buttons, and the pages its links open.
 * Every value in them (subject, message, labels) may come from mail anyone can send, through an
 * expression: it is shown as text, never read as HTML.
 */
import type { IDataObject } from 'n8n-workflow';

import { escapeHtml } from './helpers';

/** A button of the mail: a link n8n signed for one answer. */
export interface ResponseLink {
	label: string;
	url: string;
	approved: boolean;
}

/** The longest free-text answer a page accepts (characters). */
export const MAX_ANSWER = 100_000;

const FONT = "font-family:'Segoe UI',Helvetica,Arial,sans-serif";
const BUTTON = {
	primary: 'background:#0f6cbd;color:#ffffff;border:1px solid #0f6cbd',
	secondary: 'background:#ffffff;color:#242424;border:1px solid #d1d1d1',
};
const NOTE =
	'Each button opens a page; your answer is recorded only when you press the button on that page.';

/** Text as HTML paragraphs' content: escaped, line breaks kept. */
const asHtml = (text: string) => escapeHtml(text).replace(/\r?\n/g, '<br>');

/** The approve or decline label the options give an answer. */
export function approvalLabel(values: IDataObject, approved: boolean): string {
	return approved
		? String(values.approveLabel || 'Approve')
		: String(values.disapproveLabel || 'Decline');
}

export function emailHtml(subject: string, message: string, links: ResponseLink[]): string {
	const buttons = links
		.map(
			(link) =>
				`<a href="${escapeHtml(link.url)}" target="_blank" style="display:inline-block;margin:0 8px 8px 0;padding:10px 20px;border-radius:4px;text-decoration:none;font-weight:600;${link.approved ? BUTTON.primary : BUTTON.secondary}">${escapeHtml(link.label)}</a>`,
		)
		.join('\n');
	return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>
<body style="margin:0;padding:24px;background:#f5f5f5;${FONT};color:#242424">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center">
<table role="presentation" cellpadding="0" cellspacing="0" style="max-width:560px;width:100%;background:#ffffff;border:1px solid #e0e0e0;border-radius:8px"><tr><td style="padding:24px">
<h1 style="margin:0 0 16px;font-size:20px">${escapeHtml(subject)}</h1>
<p style="margin:0 0 24px;font-size:15px;line-height:1.5">${asHtml(message)}</p>
<p style="margin:0">${buttons}</p>
<p style="margin:16px 0 0;font-size:12px;color:#616161">${NOTE}</p>
</td></tr></table>
</td></tr></table>
</body></html>`;
}

/** The plain-text part, for mail clients that show no HTML: the message and each link. */
export function emailText(message: string, links: ResponseLink[]): string {
	const lines = links.map((link) => `${link.label}: ${link.url}`);
	return `${message}\n\n${lines.join('\n')}\n\n${NOTE}\n`;
}

const PAGE_STYLE = `body{margin:0;padding:24px;background:#f5f5f5;${FONT};color:#242424}
main{max-width:560px;margin:40px auto;background:#fff;border:1px solid #e0e0e0;border-radius:8px;padding:24px}
h1{margin:0 0 16px;font-size:20px}p{line-height:1.5}
label{display:block;font-weight:600}label.choice{font-weight:400;margin:4px 0}
textarea,input,select{box-sizing:border-box;width:100%;font:inherit;padding:8px;margin:8px 0 16px}
input[type=radio],input[type=checkbox]{width:auto;margin:0 6px 0 0}
fieldset{border:0;padding:0;margin:0 0 16px}legend{font-weight:600;padding:0;margin-bottom:4px}
button{padding:10px 20px;border-radius:4px;border:1px solid #0f6cbd;background:#0f6cbd;color:#fff;font:inherit;font-weight:600;cursor:pointer}
.error{color:#b10e1c}`;

function page(title: string, body: string): string {
	return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow"><title>${escapeHtml(title)}</title><style>${PAGE_STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

/** The free-text answer's field. */
export const freeTextField = `<label for="response">Your answer</label>
<textarea id="response" name="response" rows="6" maxlength="${MAX_ANSWER}" required></textarea>`;

/**
 * The page a link opens: the question, the form's fields (none for an approval) and one button that
 * records the answer (a POST to the same signed address). Opening it records nothing.
 */
export function answerPage(options: {
	subject: string;
	message: string;
	label: string;
	fields?: string;
	/** The form's answer as multipart/form-data, the way n8n reads a Custom Form's. */
	multipart?: boolean;
	error?: string;
}): string {
	const { subject, message, label, fields = '', multipart, error } = options;
	return page(
		subject || 'Your answer',
		`<h1>${escapeHtml(subject || 'Your answer')}</h1>
<p>${asHtml(message)}</p>
${error ? `<p class="error">${escapeHtml(error)}</p>` : ''}
<form method="post"${multipart ? ' enctype="multipart/form-data"' : ''}>${fields}
<button type="submit">${escapeHtml(label)}</button>
</form>`,
	);
}

/** The page after the button: the answer was recorded and the workflow goes on. */
export function recordedPage(answer: string): string {
	return page(
		'Answer recorded',
		`<h1>Answer recorded</h1>
<p>${escapeHtml(answer)}</p>
<p>The workflow goes on with it. You can close this page.</p>`,
	);
}

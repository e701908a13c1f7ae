/** What message operations share: the message id parameter, attachments from binary data, quoting. */
import type { IDataObject, IExecuteFunctions, INodeProperties } from 'n8n-workflow';

import { MailServiceError } from '../../transport/auth/errors';
import type { OutgoingAttachment } from '../../transport/mime/compose';
import { splitList, type MailMessage } from '../../transport/types';

export function messageIdProperty(operations: string[], resource = 'message'): INodeProperties {
	return {
		displayName: 'Message ID',
		name: 'messageId',
		type: 'string',
		required: true,
		default: '',
		// eslint-disable-next-line n8n-nodes-base/node-param-placeholder-miscased-id -- the item field is literally "id"
		placeholder: '={{ $json.id }}',
		// eslint-disable-next-line n8n-nodes-base/node-param-description-miscased-id -- names the item field "id"
		description:
			'The "id" field of a message from the trigger or from Get Many, for example imap:1700000000:42:Inbox',
		displayOptions: { show: { resource: [resource], operation: operations } },
	};
}

/** The item's Message ID as typed; the mailbox checks it (`identify`) before any network call. */
export function messageIdOf(ctx: IExecuteFunctions, itemIndex: number): string {
	return String(ctx.getNodeParameter('messageId', itemIndex) ?? '');
}

/** Attachments from the item's binary properties, named in a comma-separated list. */
export async function binaryAttachments(
	ctx: IExecuteFunctions,
	itemIndex: number,
	names: string,
): Promise<OutgoingAttachment[]> {
	const result: OutgoingAttachment[] = [];
	for (const name of splitList(names)) {
		const binary = ctx.helpers.assertBinaryData(itemIndex, name);
		result.push({
			filename: binary.fileName ?? name,
			contentType: binary.mimeType,
			content: await ctx.helpers.getBinaryDataBuffer(itemIndex, name),
		});
	}
	return result;
}

/** Custom headers from a fixed collection, refusing the ones the composer must own. */
export function customHeaders(values: IDataObject | undefined): Record<string, string> {
	const owned =
		/^(from|to|cc|bcc|subject|date|message-id|content-.*|mime-version|reply-to|in-reply-to|references)$/i;
	const headers: Record<string, string> = {};
	for (const entry of (values?.header as IDataObject[]) ?? []) {
		const name = String(entry.name ?? '').trim();
		if (!name) continue;
		if (owned.test(name) || !/^[!-9;-~]+$/.test(name)) {
			throw new MailServiceError(
				`"${name}" cannot be set as a custom header`,
				'Use the node’s own fields for From, To, Cc, Bcc, Subject and Reply-To; header names are ASCII without spaces or ":".',
				'input',
			);
		}
		headers[name] = String(entry.value ?? '');
	}
	return headers;
}

/** Text as HTML shows it: no tag, entity or attribute in it is read as markup. */
export const escapeHtml = (text: string) =>
	text.replace(
		/[&<>"']/g,
		(c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
	);

/** The quoted original below a reply or forward, in text and HTML. */
export function quoteOriginal(
	original: MailMessage,
	kind: 'reply' | 'forward',
): { text: string; html: string } {
	const from = original.from ? `${original.from.name} <${original.from.address}>`.trim() : '';
	const lines =
		kind === 'forward'
			? [
					'-------- Forwarded message --------',
					`From: ${from}`,
					`Date: ${original.date ?? ''}`,
					`Subject: ${original.subject}`,
					`To: ${original.to.map((a) => a.address).join(', ')}`,
					'',
				]
			: [`On ${original.date ?? 'an earlier date'}, ${from} wrote:`];
	const body = original.text ?? '';
	const text =
		kind === 'forward'
			? `${lines.join('\n')}\n${body}`
			: `${lines[0]}\n${body
					.split('\n')
					.map((l) => `> ${l}`)
					.join('\n')}`;
	const htmlBody = original.html ?? `<pre>${escapeHtml(body)}</pre>`;
	const html =
		kind === 'forward'
			? `<div>${lines.map(escapeHtml).join('<br>')}</div>${htmlBody}`
			: `<div>${escapeHtml(lines[0])}</div><blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex">${htmlBody}</blockquote>`;
	return { text, html };
}

export function prefixedSubject(subject: string, prefix: 'Re' | 'Fw'): string {
	const pattern = prefix === 'Re' ? /^\s*re\s*:/i : /^\s*(fw|fwd)\s*:/i;
	return pattern.test(subject) ? subject : `${prefix}: ${subject}`;
}

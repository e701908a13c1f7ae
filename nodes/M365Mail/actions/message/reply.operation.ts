import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';

import type { MailConnection } from '../../transport/connection';
import { splitList, type MailAddress } from '../../transport/types';
import type { ImapSessions } from '../sessions';
import {
	binaryAttachments,
	customHeaders,
	messageIdProperty,
	prefixedSubject,
	quoteOriginal,
	readOriginal,
} from './helpers';
import { sendAs, sendOptions } from './send';

const show = { resource: ['message'], operation: ['reply'] };

export const description: INodeProperties[] = [
	messageIdProperty(['reply']),
	{
		displayName: 'Reply to All',
		name: 'replyAll',
		type: 'boolean',
		default: false,
		description: 'Whether to reply to the sender and every other recipient (To and Cc)',
		displayOptions: { show },
	},
	{
		displayName: 'Text',
		name: 'text',
		type: 'string',
		typeOptions: { rows: 5 },
		default: '',
		description: 'Plain-text reply (add an HTML reply under Options)',
		displayOptions: { show },
	},
	sendOptions(
		['reply'],
		[
			{
				displayName: 'Include Original',
				name: 'includeOriginal',
				type: 'boolean',
				default: true,
				description: 'Whether to quote the original message below the reply',
			},
		],
	),
];

function uniqueAddresses(list: MailAddress[], exclude: string[]): string[] {
	const skip = new Set(exclude.map((a) => a.toLowerCase()));
	const result: string[] = [];
	for (const a of list) {
		if (!a.address || skip.has(a.address)) continue;
		skip.add(a.address);
		result.push(a.address);
	}
	return result;
}

export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
	sessions: ImapSessions,
): Promise<INodeExecutionData[]> {
	const source = await readOriginal(this, itemIndex, connection, sessions, 'summary');
	const original = source.fetched.message;
	const options = this.getNodeParameter('options', itemIndex, {}) as IDataObject;
	const headers = customHeaders(options.customHeaders as IDataObject);
	const attachments = await binaryAttachments(this, itemIndex, String(options.attachments ?? ''));
	const replyAll = this.getNodeParameter('replyAll', itemIndex) as boolean;
	const self = [source.mailbox];
	const primary = original.replyTo.length ? original.replyTo : original.from ? [original.from] : [];
	const to = uniqueAddresses(primary, self);
	const cc = replyAll ? uniqueAddresses([...original.to, ...original.cc], [...self, ...to]) : [];
	cc.push(...splitList(options.cc as string));
	const text = (this.getNodeParameter('text', itemIndex) as string) ?? '';
	const html = (options.html as string) || undefined;
	const quote = options.includeOriginal === false ? undefined : quoteOriginal(original, 'reply');
	const references = [...original.references, ...(original.messageId ? [original.messageId] : [])];
	const outcome = await sendAs(
		this,
		connection,
		sessions,
		source.mailbox,
		{
			to,
			cc,
			bcc: splitList(options.bcc as string),
			replyTo: splitList(options.replyTo as string),
			subject: prefixedSubject(original.subject, 'Re'),
			text: quote ? `${text}\n\n${quote.text}` : text,
			html: html ? (quote ? `${html}<br>${quote.html}` : html) : undefined,
			inReplyTo: original.messageId ?? undefined,
			references,
			headers,
			attachments,
			importance: (options.importance as 'high' | 'normal' | 'low') ?? 'normal',
			fromName: options.fromName as string,
		},
		options.appendToSent === true,
	);
	// Outlook shows "You replied": the original gets \Answered.
	await source
		.markAnswered()
		.catch((error: Error) =>
			this.logger.warn(`Replied, but marking the original failed: ${error.message}`),
		);
	return [
		{
			json: {
				...outcome,
				to,
				cc,
				subject: prefixedSubject(original.subject, 'Re'),
				inReplyTo: original.messageId,
			},
			pairedItem: { item: itemIndex },
		},
	];
}

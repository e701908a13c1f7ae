import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';

import type { MailConnection } from '../../transport/connection';
import { splitList } from '../../transport/types';
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

const show = { resource: ['message'], operation: ['forward'] };

export const description: INodeProperties[] = [
	messageIdProperty(['forward']),
	{
		displayName: 'To',
		name: 'to',
		type: 'string',
		required: true,
		default: '',
		description: 'Recipients, separated by commas or ";"',
		displayOptions: { show },
	},
	{
		displayName: 'Text',
		name: 'text',
		type: 'string',
		typeOptions: { rows: 4 },
		default: '',
		description: 'A note above the forwarded message',
		displayOptions: { show },
	},
	sendOptions(['forward']),
];

export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
	sessions: ImapSessions,
): Promise<INodeExecutionData[]> {
	const source = await readOriginal(this, itemIndex, connection, sessions, 'parsed');
	const original = source.fetched;
	const options = this.getNodeParameter('options', itemIndex, {}) as IDataObject;
	const to = splitList(this.getNodeParameter('to', itemIndex) as string);
	const headers = customHeaders(options.customHeaders as IDataObject);
	const extra = await binaryAttachments(this, itemIndex, String(options.attachments ?? ''));
	const quote = quoteOriginal(original.message, 'forward');
	const note = (this.getNodeParameter('text', itemIndex) as string) ?? '';
	const html = (options.html as string) || undefined;
	const subject = prefixedSubject(original.message.subject, 'Fw');
	const outcome = await sendAs(
		this,
		connection,
		sessions,
		source.mailbox,
		{
			to,
			cc: splitList(options.cc as string),
			bcc: splitList(options.bcc as string),
			replyTo: splitList(options.replyTo as string),
			subject,
			text: `${note}\n\n${quote.text}`,
			html: `${html ?? (note ? `<p>${note.replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`)}</p>` : '')}${quote.html}`,
			// The original's attachments (inline images included, so its HTML still shows them).
			attachments: [
				...original.attachments.map((a) => ({
					filename: a.filename,
					contentType: a.contentType,
					content: a.content,
					contentId: a.inline ? a.contentId?.replace(/^<|>$/g, '') : undefined,
				})),
				...extra,
			],
			headers,
			importance: (options.importance as 'high' | 'normal' | 'low') ?? 'normal',
			fromName: options.fromName as string,
		},
		options.appendToSent === true,
	);
	return [{ json: { ...outcome, to, subject }, pairedItem: { item: itemIndex } }];
}

import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';

import type { MailConnection } from '../../transport/connection';
import { splitList, type Importance } from '../../transport/types';
import { resolveMailbox } from '../common';
import type { ImapSessions } from '../sessions';
import { binaryAttachments, customHeaders } from './helpers';
import { sendAs, sendOptions } from './send';

const show = { resource: ['message'], operation: ['send'] };

export const description: INodeProperties[] = [
	{
		displayName: 'To',
		name: 'to',
		type: 'string',
		required: true,
		default: '',
		placeholder: 'info@contoso.com, sales@contoso.com',
		description: 'Recipients, separated by commas or ";"',
		displayOptions: { show },
	},
	{
		displayName: 'Subject',
		name: 'subject',
		type: 'string',
		default: '',
		description: 'Subject line',
		displayOptions: { show },
	},
	{
		displayName: 'Text',
		name: 'text',
		type: 'string',
		typeOptions: { rows: 5 },
		default: '',
		description: 'Plain-text body (add an HTML body under Options)',
		displayOptions: { show },
	},
	sendOptions(['send']),
];

export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
	sessions: ImapSessions,
): Promise<INodeExecutionData[]> {
	const options = this.getNodeParameter('options', itemIndex, {}) as IDataObject;
	const to = splitList(this.getNodeParameter('to', itemIndex) as string);
	const headers = customHeaders(options.customHeaders as IDataObject);
	const attachments = await binaryAttachments(this, itemIndex, String(options.attachments ?? ''));
	const mailbox = await resolveMailbox(
		this.getNode(),
		connection,
		this.getNodeParameter('mailbox', itemIndex) as string,
		itemIndex,
	);
	const outcome = await sendAs(
		this,
		connection,
		sessions,
		mailbox,
		{
			to,
			cc: splitList(options.cc as string),
			bcc: splitList(options.bcc as string),
			replyTo: splitList(options.replyTo as string),
			subject: this.getNodeParameter('subject', itemIndex) as string,
			text: (this.getNodeParameter('text', itemIndex) as string) || undefined,
			html: (options.html as string) || undefined,
			importance: (options.importance as Importance) ?? 'normal',
			headers,
			attachments,
			fromName: options.fromName as string,
		},
		options.appendToSent === true,
	);
	return [
		{
			json: { ...outcome, to, subject: this.getNodeParameter('subject', itemIndex) as string },
			pairedItem: { item: itemIndex },
		},
	];
}

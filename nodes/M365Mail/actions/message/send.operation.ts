import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { splitAddresses } from '../../transport/mime/addresses';
import type { Mailbox } from '../../transport/mailbox';
import { readSendOptions, sendAs, sendOptions } from './send';

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
	mailbox: Mailbox,
): Promise<INodeExecutionData[]> {
	const send = await readSendOptions(this, itemIndex);
	const to = await splitAddresses(this.getNodeParameter('to', itemIndex) as string);
	const subject = this.getNodeParameter('subject', itemIndex) as string;
	const outcome = await sendAs(
		mailbox,
		{
			...send.message,
			to,
			subject,
			text: (this.getNodeParameter('text', itemIndex) as string) || undefined,
		},
		send.appendToSent,
	);
	return [
		{
			json: { ...outcome, to, subject },
			pairedItem: { item: itemIndex },
		},
	];
}

import type { INodeProperties } from 'n8n-workflow';

import { splitAddresses } from '../../transport/mime/addresses';
import {
	readSendOptions,
	recipientsProperty,
	sendAs,
	sendOptions,
	subjectProperty,
	textProperty,
} from './send';
import type { OperationExecutor } from '../types';

export const description: INodeProperties[] = [
	recipientsProperty('send', 'info@contoso.com, sales@contoso.com'),
	subjectProperty('send'),
	textProperty('send', 'Plain-text body (add an HTML body under Options)'),
	sendOptions(['send']),
];

export const execute: OperationExecutor = async function (itemIndex, mailbox) {
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
};

import type { INodeProperties } from 'n8n-workflow';

import { splitAddresses } from '../../transport/mime/addresses';
import {
	draftAs,
	readSendOptions,
	recipientsProperty,
	sendOptions,
	subjectProperty,
	textProperty,
} from './send';
import type { OperationExecutor } from '../types';

export const description: INodeProperties[] = [
	recipientsProperty('createDraft', 'info@contoso.com', false),
	subjectProperty('createDraft'),
	textProperty('createDraft', 'Plain-text body (add an HTML body under Options)'),
	sendOptions(['createDraft'], [], { sent: false }),
];

/** A new message saved in Drafts, not sent: a person reviews it in Outlook and sends it. */
export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const send = await readSendOptions(this, itemIndex);
	const to = await splitAddresses(this.getNodeParameter('to', itemIndex, '') as string);
	const subject = this.getNodeParameter('subject', itemIndex) as string;
	const draft = await draftAs(mailbox, {
		...send.message,
		to,
		subject,
		text: (this.getNodeParameter('text', itemIndex) as string) || undefined,
	});
	return [
		{
			json: { ...draft, to, cc: send.message.cc ?? [], subject },
			pairedItem: { item: itemIndex },
		},
	];
};

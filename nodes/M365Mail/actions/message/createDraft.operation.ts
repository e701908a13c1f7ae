import type { INodeProperties } from 'n8n-workflow';

import {
	draftAs,
	readNewMessage,
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
	const message = await readNewMessage(this, itemIndex, send);
	const draft = await draftAs(mailbox, message);
	const { to, cc, subject } = message;
	return [{ json: { ...draft, to, cc: cc ?? [], subject }, pairedItem: { item: itemIndex } }];
};

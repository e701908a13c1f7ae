import type { INodeProperties } from 'n8n-workflow';

import {
	readNewMessage,
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
	const message = await readNewMessage(this, itemIndex, send);
	const outcome = await sendAs(mailbox, message, send.appendToSent);
	const { to, subject } = message;
	return [{ json: { ...outcome, to, subject }, pairedItem: { item: itemIndex } }];
};

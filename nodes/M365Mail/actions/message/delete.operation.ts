import type { INodeProperties } from 'n8n-workflow';

import { messageIdOf, messageIdProperty } from './helpers';
import type { OperationExecutor } from '../types';

export const description: INodeProperties[] = [
	messageIdProperty(['delete']),
	{
		displayName: 'Delete Permanently',
		name: 'permanent',
		type: 'boolean',
		default: false,
		description:
			'Whether to remove the message for good. Off: it goes to Deleted Items, where it can be restored.',
		displayOptions: { show: { resource: ['message'], operation: ['delete'] } },
	},
];

export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const target = mailbox.identify(messageIdOf(this, itemIndex));
	const permanent = this.getNodeParameter('permanent', itemIndex) as boolean;
	await mailbox.remove(target.id, permanent);
	return [{ json: { ...target, deleted: true, permanent }, pairedItem: { item: itemIndex } }];
};

import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import type { MailConnection } from '../../transport/connection';
import { resolveFolder } from '../../transport/imap/folders';
import { deletePermanently, transferMessages } from '../../transport/imap/messages';
import type { ImapSessions } from '../sessions';
import { fetchOne, messageContext, messageIdProperty, messageResult, withMessage } from './helpers';

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

export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
	sessions: ImapSessions,
): Promise<INodeExecutionData[]> {
	const context = await messageContext(this, itemIndex, connection);
	const permanent = this.getNodeParameter('permanent', itemIndex) as boolean;
	await withMessage(sessions, context, { readOnly: false }, async (open, folder) => {
		await fetchOne(open, context, 'summary');
		const trash = permanent
			? undefined
			: await resolveFolder(open.client, context.mailbox, 'deleteditems');
		// Deleting inside Deleted Items is a permanent delete, as in Outlook.
		if (!trash || trash.serverPath === folder.serverPath) {
			await deletePermanently(open, [context.location.uid]);
		} else {
			await transferMessages(open, [context.location.uid], trash.serverPath, 'move');
		}
	});
	return [
		{
			json: { ...messageResult(context), deleted: true, permanent },
			pairedItem: { item: itemIndex },
		},
	];
}

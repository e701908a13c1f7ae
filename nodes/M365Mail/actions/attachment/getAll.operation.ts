import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import type { MailConnection } from '../../transport/connection';
import {
	messageContext,
	messageIdProperty,
	messageResult,
	fetchOne,
	withMessage,
} from '../message/helpers';
import type { ImapSessions } from '../sessions';

export const description: INodeProperties[] = [
	messageIdProperty(['getAll', 'download'], 'attachment'),
];

/** One item per attachment, from the body structure (nothing is downloaded). */
export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
	sessions: ImapSessions,
): Promise<INodeExecutionData[]> {
	const context = await messageContext(this, itemIndex, connection);
	const message = await withMessage(
		sessions,
		context,
		{ readOnly: true },
		async (open) => (await fetchOne(open, context, 'summary')).message,
	);
	return message.attachments.map((attachment) => ({
		json: { ...attachment, message: messageResult(context).id, mailbox: context.mailbox },
		pairedItem: { item: itemIndex },
	}));
}

import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import type { Mailbox } from '../../transport/mailbox';
import { messageIdOf, messageIdProperty } from '../message/helpers';

export const description: INodeProperties[] = [
	messageIdProperty(['getAll', 'download'], 'attachment'),
];

/** One item per attachment, from the message's structure (nothing is downloaded). */
export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	mailbox: Mailbox,
): Promise<INodeExecutionData[]> {
	const message = mailbox.identify(messageIdOf(this, itemIndex));
	const attachments = await mailbox.listAttachments(message.id);
	return attachments.map((a) => ({
		json: {
			index: a.index,
			filename: a.filename,
			...(a.originalFileName ? { originalFileName: a.originalFileName } : {}),
			contentType: a.contentType,
			size: a.size,
			contentId: a.contentId ?? null,
			inline: a.inline,
			message: message.id,
			mailbox: message.mailbox,
		},
		pairedItem: { item: itemIndex },
	}));
}

import type { INodeProperties } from 'n8n-workflow';

import { messageIdOf, messageIdProperty } from '../message/helpers';
import type { OperationExecutor } from '../types';

export const description: INodeProperties[] = [
	messageIdProperty(['getAll', 'download'], 'attachment'),
];

/** One item per attachment, from the message's structure (nothing is downloaded). */
export const execute: OperationExecutor = async function (itemIndex, mailbox) {
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
};

import type { INodeProperties } from 'n8n-workflow';

import { splitAddresses } from '../../transport/mime/addresses';
import { messageIdOf, messageIdProperty, prefixedSubject, quoteOriginal } from './helpers';
import {
	readSendOptions,
	recipientsProperty,
	saveAsDraftOption,
	sendOptions,
	sendOrDraft,
	textProperty,
} from './send';
import type { OperationExecutor } from '../types';

export const description: INodeProperties[] = [
	messageIdProperty(['forward']),
	recipientsProperty('forward'),
	textProperty('forward', 'A note above the forwarded message', 4),
	sendOptions(['forward'], [saveAsDraftOption('forward')]),
];

export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const { id } = mailbox.identify(messageIdOf(this, itemIndex));
	// Parsed: the original's attachments go along.
	const original = await mailbox.getMessage(id, { content: 'parsed' });
	const send = await readSendOptions(this, itemIndex);
	const to = await splitAddresses(this.getNodeParameter('to', itemIndex) as string);
	const quote = quoteOriginal(original.message, 'forward');
	const note = (this.getNodeParameter('text', itemIndex) as string) ?? '';
	const html = send.message.html;
	const subject = prefixedSubject(original.message.subject, 'Fw');
	const { outcome } = await sendOrDraft(
		mailbox,
		{
			...send.message,
			to,
			subject,
			text: `${note}\n\n${quote.text}`,
			html: `${html ?? (note ? `<p>${note.replace(/[&<>]/g, (c) => `&#${c.charCodeAt(0)};`)}</p>` : '')}${quote.html}`,
			// The original's attachments (inline images included, so its HTML still shows them).
			attachments: [
				...original.attachments.map((a) => ({
					filename: a.filename,
					contentType: a.contentType,
					content: a.content,
					contentId: a.inline ? a.contentId?.replace(/^<|>$/g, '') : undefined,
				})),
				...(send.message.attachments ?? []),
			],
		},
		send,
	);
	return [{ json: { ...outcome, to, subject }, pairedItem: { item: itemIndex } }];
};

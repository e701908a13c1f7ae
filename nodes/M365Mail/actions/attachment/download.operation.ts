import type { IExecuteFunctions, INodeProperties, IBinaryData } from 'n8n-workflow';

import { MailServiceError } from '../../transport/auth/errors';
import type { AttachmentInfo } from '../../transport/types';
import { messageIdOf } from '../message/helpers';
import type { OperationExecutor } from '../types';

const show = { resource: ['attachment'], operation: ['download'] };

export const description: INodeProperties[] = [
	{
		displayName: 'Attachments',
		name: 'which',
		type: 'options',
		options: [
			{ name: 'All', value: 'all', description: 'Every file attachment of the message' },
			{ name: 'By Index', value: 'index', description: 'One attachment by its index (0, 1, 2...)' },
			{
				name: 'By File Name',
				value: 'filename',
				description: 'Attachments with this exact file name',
			},
		],
		default: 'all',
		description: 'Which attachments to download',
		displayOptions: { show },
	},
	{
		displayName: 'Index',
		name: 'index',
		type: 'number',
		typeOptions: { minValue: 0 },
		default: 0,
		description: 'The "index" field of Attachment > Get Many',
		displayOptions: { show: { ...show, which: ['index'] } },
	},
	{
		displayName: 'File Name',
		name: 'filename',
		type: 'string',
		default: '',
		description: 'The file name, as Attachment > Get Many shows it',
		displayOptions: { show: { ...show, which: ['filename'] } },
	},
	{
		displayName: 'Binary Property Prefix',
		name: 'prefix',
		type: 'string',
		default: 'attachment_',
		description: 'The attachments go into binary properties named with this prefix and 0, 1, 2',
		displayOptions: { show },
	},
	{
		displayName: 'Include Inline Images',
		name: 'includeInline',
		type: 'boolean',
		default: false,
		description: 'Whether "All" also includes images embedded in the HTML body',
		displayOptions: { show: { ...show, which: ['all'] } },
	},
];

/** The attachments the parameters choose (all, by index or by file name); none chosen is an error. */
export function chooseAttachments<T extends AttachmentInfo>(
	ctx: IExecuteFunctions,
	itemIndex: number,
	attachments: T[],
): T[] {
	const which = ctx.getNodeParameter('which', itemIndex) as string;
	let chosen = attachments;
	if (which === 'index') {
		const index = ctx.getNodeParameter('index', itemIndex) as number;
		chosen = chosen.filter((a) => a.index === index);
	} else if (which === 'filename') {
		const name = ctx.getNodeParameter('filename', itemIndex) as string;
		// The safe name the node lists, or the one the sender wrote.
		chosen = chosen.filter((a) => a.filename === name || a.originalFileName === name);
	} else if (!(ctx.getNodeParameter('includeInline', itemIndex) as boolean)) {
		chosen = chosen.filter((a) => !a.inline);
	}
	if (!chosen.length && which !== 'all') {
		throw new MailServiceError(
			'No attachment of the message matches',
			`The message has: ${attachments.map((a) => `${a.index}: ${a.filename}`).join(', ') || 'no attachments'}.`,
			'notFound',
		);
	}
	return chosen;
}

/** One item with the chosen attachments as binary properties. */
export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const message = mailbox.identify(messageIdOf(this, itemIndex));
	const prefix = this.getNodeParameter('prefix', itemIndex) as string;
	const chosen = await mailbox.downloadAttachments(message.id, (available) =>
		chooseAttachments(this, itemIndex, available),
	);
	const binary: Record<string, IBinaryData> = {};
	const files = [];
	for (const [n, attachment] of chosen.entries()) {
		binary[`${prefix}${n}`] = await this.helpers.prepareBinaryData(
			attachment.content,
			attachment.filename,
			attachment.contentType,
		);
		files.push({
			index: attachment.index,
			filename: attachment.filename,
			binaryProperty: `${prefix}${n}`,
		});
	}
	return [
		{
			json: { ...message, attachments: files },
			binary,
			pairedItem: { item: itemIndex },
		},
	];
};

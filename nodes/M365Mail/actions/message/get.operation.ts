import type { IDataObject, IExecuteFunctions, INodeProperties } from 'n8n-workflow';

import { attachmentOptions, attachmentProperties, outputProperty } from '../../shared/descriptions';
import { readOptionsFor, toItem, type OutputFormat, type OutputOptions } from '../../shared/output';
import { messageIdOf, messageIdProperty } from './helpers';
import type { OperationExecutor } from '../types';

const show = { resource: ['message'], operation: ['get', 'getAll'] };

/** Output parameters shared by Get and Get Many. */
export const outputDescription: INodeProperties[] = [
	{ ...outputProperty, displayOptions: { show } },
	...attachmentProperties.map((p) => ({ ...p, displayOptions: { show } })),
	{
		displayName: 'Attachment Options',
		name: 'attachmentOptions',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: { show: { ...show, downloadAttachments: [true] } },
		description: 'Which attachments become binary data, and under which property names',
		options: attachmentOptions,
	},
];

export const description: INodeProperties[] = [messageIdProperty(['get'])];

export function readOutputOptions(ctx: IExecuteFunctions, itemIndex: number): OutputOptions {
	const downloadAttachments = ctx.getNodeParameter(
		'downloadAttachments',
		itemIndex,
		false,
	) as boolean;
	const extra = downloadAttachments
		? (ctx.getNodeParameter('attachmentOptions', itemIndex, {}) as IDataObject)
		: {};
	return {
		output: ctx.getNodeParameter('output', itemIndex, 'simple') as OutputFormat,
		downloadAttachments,
		attachmentPrefix: String(extra.attachmentPrefix ?? 'attachment_'),
		includeInlineImages: extra.includeInlineImages === true,
	};
}

export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const { id } = mailbox.identify(messageIdOf(this, itemIndex));
	const output = readOutputOptions(this, itemIndex);
	const fetched = await mailbox.getMessage(id, readOptionsFor(output));
	const item = await toItem(fetched, output, async (data, name, mime) =>
		this.helpers.prepareBinaryData(data, name, mime),
	);
	return [{ ...item, pairedItem: { item: itemIndex } }];
};

import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';

import type { MailConnection } from '../../transport/connection';
import { attachmentOptions, attachmentProperties, outputProperty } from '../descriptions';
import { contentFor, toItem, type OutputFormat, type OutputOptions } from '../output';
import type { ImapSessions } from '../sessions';
import { fetchOne, messageContext, messageIdProperty, withMessage } from './helpers';

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

export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
	sessions: ImapSessions,
): Promise<INodeExecutionData[]> {
	const context = await messageContext(this, itemIndex, connection);
	const output = readOutputOptions(this, itemIndex);
	const fetched = await withMessage(sessions, context, { readOnly: true }, async (open) =>
		fetchOne(open, context, contentFor(output), output.output === 'full', output.output === 'raw'),
	);
	const item = await toItem(fetched, output, async (data, name, mime) =>
		this.helpers.prepareBinaryData(data, name, mime),
	);
	return [{ ...item, pairedItem: { item: itemIndex } }];
}

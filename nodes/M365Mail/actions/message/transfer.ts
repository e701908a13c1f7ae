/** Move and copy: the same command with a different verb; both return where the message is now. */
import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import type { Mailbox } from '../../transport/mailbox';
import { folderLocator, folderValue } from '../../shared/descriptions';
import { messageIdOf, messageIdProperty } from './helpers';

export function transferDescription(operation: 'move' | 'copy'): INodeProperties[] {
	return [
		messageIdProperty([operation]),
		folderLocator(
			'destination',
			'Destination Folder',
			`The folder to ${operation} the message to`,
			{
				displayOptions: { show: { resource: ['message'], operation: [operation] } },
				default: { mode: 'list', value: '' },
			},
		),
	];
}

export async function transfer(
	ctx: IExecuteFunctions,
	itemIndex: number,
	mailbox: Mailbox,
	mode: 'move' | 'copy',
): Promise<INodeExecutionData[]> {
	const from = mailbox.identify(messageIdOf(ctx, itemIndex));
	const destination = folderValue(ctx.getNodeParameter('destination', itemIndex));
	const now = await mailbox.transfer(from.id, destination, mode);
	return [
		{
			json: { ...from, ...now, [mode === 'move' ? 'movedFrom' : 'copiedFrom']: from.id },
			pairedItem: { item: itemIndex },
		},
	];
}

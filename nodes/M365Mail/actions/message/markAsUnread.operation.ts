import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import type { Mailbox } from '../../transport/mailbox';
import { changeMessageFlags, flagDescription } from './flags';

export const description = flagDescription('markAsUnread');

export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	mailbox: Mailbox,
): Promise<INodeExecutionData[]> {
	return await changeMessageFlags(this, itemIndex, mailbox, 'markAsUnread');
}

import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import type { Mailbox } from '../../transport/mailbox';
import { transfer, transferDescription } from './transfer';

export const description = transferDescription('move');

export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	mailbox: Mailbox,
): Promise<INodeExecutionData[]> {
	return await transfer(this, itemIndex, mailbox, 'move');
}

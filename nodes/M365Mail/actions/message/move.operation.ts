import { transfer, transferDescription } from './transfer';
import type { OperationExecutor } from '../types';

export const description = transferDescription('move');

export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	return await transfer(this, itemIndex, mailbox, 'move');
};

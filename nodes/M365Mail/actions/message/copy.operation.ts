import { transfer, transferDescription } from './transfer';
import type { OperationExecutor } from '../types';

export const description = transferDescription('copy');

export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	return await transfer(this, itemIndex, mailbox, 'copy');
};

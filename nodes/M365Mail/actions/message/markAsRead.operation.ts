import { changeMessageFlags, flagDescription } from './flags';
import type { OperationExecutor } from '../types';

export const description = flagDescription('markAsRead');

export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	return await changeMessageFlags(this, itemIndex, mailbox, 'markAsRead');
};

import { requireCapability } from '../../transport/mailbox';
import { changeMessage } from './flags';
import { messageIdProperty } from './helpers';
import type { OperationExecutor } from '../types';

export const description = [messageIdProperty(['complete'])];

/** Outlook's "complete" follow-up state: a flag over IMAP is only on or off. */
export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const followUp = requireCapability(mailbox, mailbox.followUp, 'Marking a flag complete');
	return await changeMessage(this, itemIndex, mailbox, (id) => followUp.complete(id));
};

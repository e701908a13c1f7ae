import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { requireCapability, type Mailbox } from '../../transport/mailbox';
import { changeMessage } from './flags';
import { messageIdProperty } from './helpers';

export const description = [messageIdProperty(['complete'])];

/** Outlook's "complete" follow-up state: a flag over IMAP is only on or off. */
export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	mailbox: Mailbox,
): Promise<INodeExecutionData[]> {
	const followUp = requireCapability(mailbox, mailbox.followUp, 'Marking a flag complete');
	return await changeMessage(this, itemIndex, mailbox, (id) => followUp.complete(id));
}

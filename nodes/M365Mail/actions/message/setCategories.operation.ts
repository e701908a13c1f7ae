import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { requireCapability, type Mailbox } from '../../transport/mailbox';
import { changeMessage } from './flags';
import { categoriesDescription, readCategories } from './followUp';
import { messageIdProperty } from './helpers';

export const description = [messageIdProperty(['setCategories']), ...categoriesDescription];

/** Outlook categories: Exchange does not expose them over IMAP. */
export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	mailbox: Mailbox,
): Promise<INodeExecutionData[]> {
	const categories = requireCapability(mailbox, mailbox.categories, 'Outlook categories');
	const wanted = readCategories(this, itemIndex);
	return await changeMessage(this, itemIndex, mailbox, (id) =>
		categories.set(id, wanted.categories, wanted.mode),
	);
}

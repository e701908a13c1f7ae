import { requireCapability } from '../../transport/mailbox';
import { changeMessage } from './flags';
import { categoriesDescription, readCategories } from './followUp';
import { messageIdProperty } from './helpers';
import type { OperationExecutor } from '../types';

export const description = [messageIdProperty(['setCategories']), ...categoriesDescription];

/** Outlook categories: Exchange does not expose them over IMAP. */
export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const categories = requireCapability(mailbox, mailbox.categories, 'Outlook categories');
	const wanted = readCategories(this, itemIndex);
	return await changeMessage(this, itemIndex, mailbox, (id) =>
		categories.set(id, wanted.categories, wanted.mode),
	);
};

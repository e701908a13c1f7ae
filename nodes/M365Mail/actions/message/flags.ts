/** Read/unread and flag/unflag: one change each, returning the message with its new state. */
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import type { Mailbox } from '../../transport/mailbox';
import type { MessageStatus } from '../../transport/types';
import { messageIdOf, messageIdProperty } from './helpers';

export const FLAG_CHANGES = {
	markAsRead: (mailbox: Mailbox, id: string) => mailbox.setRead(id, true),
	markAsUnread: (mailbox: Mailbox, id: string) => mailbox.setRead(id, false),
	flag: (mailbox: Mailbox, id: string) => mailbox.setFlagged(id, true),
	unflag: (mailbox: Mailbox, id: string) => mailbox.setFlagged(id, false),
} as const;

export type FlagOperation = keyof typeof FLAG_CHANGES;

export const flagDescription = (operation: FlagOperation) => [messageIdProperty([operation])];

/** The item of a message whose state changed. */
export function statusItem(itemIndex: number, status: MessageStatus): INodeExecutionData {
	return { json: status as unknown as IDataObject, pairedItem: { item: itemIndex } };
}

/** Validates the item's message id, runs `change` on it, and returns the message's state. */
export async function changeMessage(
	ctx: IExecuteFunctions,
	itemIndex: number,
	mailbox: Mailbox,
	change: (id: string) => Promise<MessageStatus>,
): Promise<INodeExecutionData[]> {
	const { id } = mailbox.identify(messageIdOf(ctx, itemIndex));
	return [statusItem(itemIndex, await change(id))];
}

export async function changeMessageFlags(
	ctx: IExecuteFunctions,
	itemIndex: number,
	mailbox: Mailbox,
	operation: FlagOperation,
): Promise<INodeExecutionData[]> {
	return await changeMessage(ctx, itemIndex, mailbox, (id) => FLAG_CHANGES[operation](mailbox, id));
}

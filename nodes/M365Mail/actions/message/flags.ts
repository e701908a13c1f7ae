/** Read/unread and flag/unflag: one STORE each, returning the message with its new state. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import type { MailConnection } from '../../transport/connection';
import { changeFlags } from '../../transport/imap/messages';
import type { ImapSessions } from '../sessions';
import { fetchOne, messageContext, messageIdProperty, messageResult, withMessage } from './helpers';

export const FLAG_CHANGES = {
	markAsRead: { add: ['\\Seen'] },
	markAsUnread: { remove: ['\\Seen'] },
	flag: { add: ['\\Flagged'] },
	unflag: { remove: ['\\Flagged'] },
} as const;

export type FlagOperation = keyof typeof FLAG_CHANGES;

export const flagDescription = (operation: FlagOperation) => [messageIdProperty([operation])];

export async function changeMessageFlags(
	ctx: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
	sessions: ImapSessions,
	operation: FlagOperation,
): Promise<INodeExecutionData[]> {
	const context = await messageContext(ctx, itemIndex, connection);
	const change = FLAG_CHANGES[operation];
	const state = await withMessage(sessions, context, { readOnly: false }, async (open) => {
		// A STORE on a missing UID does nothing; the read below then says the message is gone.
		await changeFlags(open, [context.location.uid], {
			add: 'add' in change ? [...change.add] : undefined,
			remove: 'remove' in change ? [...change.remove] : undefined,
		});
		return (await fetchOne(open, context, 'summary')).message;
	});
	return [
		{
			json: messageResult(context, {
				isRead: state.isRead,
				isFlagged: state.isFlagged,
				flags: state.flags,
			}),
			pairedItem: { item: itemIndex },
		},
	];
}

/** Move and copy: the same command with a different verb; both return the message's new id. */
import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { MailServiceError } from '../../transport/auth/errors';
import type { MailConnection } from '../../transport/connection';
import { resolveFolder } from '../../transport/imap/folders';
import { transferMessages } from '../../transport/imap/messages';
import { encodeImapMessageId } from '../../transport/types';
import { folderLocator, folderValue } from '../descriptions';
import type { ImapSessions } from '../sessions';
import { fetchOne, messageContext, messageIdProperty, messageResult, withMessage } from './helpers';

export function transferDescription(operation: 'move' | 'copy'): INodeProperties[] {
	return [
		messageIdProperty([operation]),
		folderLocator(
			'destination',
			'Destination Folder',
			`The folder to ${operation} the message to`,
			{
				displayOptions: { show: { resource: ['message'], operation: [operation] } },
				default: { mode: 'list', value: '' },
			},
		),
	];
}

export async function transfer(
	ctx: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
	sessions: ImapSessions,
	mode: 'move' | 'copy',
): Promise<INodeExecutionData[]> {
	const context = await messageContext(ctx, itemIndex, connection);
	const destinationPath = folderValue(ctx.getNodeParameter('destination', itemIndex));
	const result = await withMessage(
		sessions,
		context,
		{ readOnly: mode === 'copy' },
		async (open) => {
			const destination = await resolveFolder(open.client, context.mailbox, destinationPath);
			// Fails clearly when the message is gone instead of moving nothing.
			await fetchOne(open, context, 'summary');
			const moved = await transferMessages(
				open,
				[context.location.uid],
				destination.serverPath,
				mode,
			);
			const uid = moved.uidMap.get(context.location.uid);
			if (uid === undefined || moved.uidValidity === undefined) {
				throw new MailServiceError(
					`The server ${mode === 'move' ? 'moved' : 'copied'} the message but did not say its new id`,
					'Find it in the destination folder with Get Many.',
					'unknown',
				);
			}
			const location = { folder: destination.path, uidValidity: moved.uidValidity, uid };
			return { ...location, id: encodeImapMessageId(location) };
		},
	);
	return [
		{
			json: {
				...messageResult(context),
				...result,
				[mode === 'move' ? 'movedFrom' : 'copiedFrom']: messageResult(context).id,
			},
			pairedItem: { item: itemIndex },
		},
	];
}

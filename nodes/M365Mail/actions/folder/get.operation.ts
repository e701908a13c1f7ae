import type { INodeProperties } from 'n8n-workflow';

import { folderLocator, folderValue } from '../../shared/descriptions';
import type { OperationExecutor } from '../types';
import { folderItem } from './shared';

export const description: INodeProperties[] = [
	folderLocator('folder', 'Folder', 'The folder to read, with how many messages it holds', {
		displayOptions: { show: { resource: ['folder'], operation: ['get'] } },
	}),
];

/** One folder with its message counts (Graph's names for them: totalItemCount, unreadItemCount). */
export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const wanted = folderValue(this.getNodeParameter('folder', itemIndex));
	const { folder, total, unread } = await mailbox.getFolder(wanted);
	return folderItem(mailbox, folder, itemIndex, {
		wellKnownName: folder.wellKnownName ?? null,
		totalItemCount: total,
		unreadItemCount: unread,
	});
};

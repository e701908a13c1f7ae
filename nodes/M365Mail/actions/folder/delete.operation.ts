import type { INodeProperties } from 'n8n-workflow';

import { folderValue } from '../../shared/descriptions';
import type { OperationExecutor } from '../types';
import { folderItem, folderToChange } from './shared';

const show = { resource: ['folder'], operation: ['delete'] };

export const description: INodeProperties[] = [
	folderToChange(
		'delete',
		"The folder to delete, with its subfolders and mail. Outlook's own folders (Inbox, Sent Items...) and folders that hold one cannot be deleted.",
	),
	{
		displayName: 'Delete Permanently',
		name: 'permanent',
		type: 'boolean',
		default: false,
		description:
			'Whether to remove the folder, its subfolders and their mail for good. Off: the folder goes to Deleted Items with everything in it, where it can be restored. Over Microsoft Graph, Microsoft offers this in the global cloud only.',
		displayOptions: { show },
	},
];

export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const wanted = folderValue(this.getNodeParameter('folder', itemIndex));
	const permanent = this.getNodeParameter('permanent', itemIndex) as boolean;
	const { folder, movedTo } = await mailbox.deleteFolder(wanted, permanent);
	return folderItem(mailbox, folder, itemIndex, {
		deleted: true,
		permanent,
		...(movedTo ? { movedTo } : {}),
	});
};

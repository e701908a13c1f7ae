import type { INodeProperties } from 'n8n-workflow';

import { folderValue } from '../../shared/descriptions';
import type { OperationExecutor } from '../types';
import { folderItem, folderToChange } from './shared';

const show = { resource: ['folder'], operation: ['rename'] };

export const description: INodeProperties[] = [
	folderToChange(
		'rename',
		"The folder to rename. Its subfolders and mail stay in it. Outlook's own folders (Inbox, Sent Items...) cannot be renamed.",
	),
	{
		displayName: 'New Name',
		name: 'newName',
		type: 'string',
		required: true,
		default: '',
		placeholder: 'Customers 2026',
		description:
			'The folder\'s new name, one level without "/": the folder stays where it is. A trigger that watches it by path needs the new path.',
		displayOptions: { show },
	},
];

export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const wanted = folderValue(this.getNodeParameter('folder', itemIndex));
	const name = String(this.getNodeParameter('newName', itemIndex) ?? '');
	const { folder, previousPath } = await mailbox.renameFolder(wanted, name);
	return folderItem(mailbox, folder, itemIndex, { previousPath });
};

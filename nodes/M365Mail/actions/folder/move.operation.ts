import type { INodeProperties } from 'n8n-workflow';

import { folderLocator, folderValue } from '../../shared/descriptions';
import type { OperationExecutor } from '../types';
import { folderItem, folderToChange } from './shared';

export const description: INodeProperties[] = [
	folderToChange(
		'move',
		"The folder to move, with its subfolders and mail. Outlook's own folders (Inbox, Sent Items...) and folders that hold one stay where they are.",
	),
	{
		displayName: 'To the Top of the Mailbox',
		name: 'toTop',
		type: 'boolean',
		default: false,
		description:
			'Whether to move the folder to the top of the mailbox, beside Inbox, instead of into another folder',
		displayOptions: { show: { resource: ['folder'], operation: ['move'] } },
	},
	folderLocator(
		'destination',
		'Destination Folder',
		'The folder to move it into; it keeps its name there. A trigger that watches it by path needs the new path.',
		{
			displayOptions: { show: { resource: ['folder'], operation: ['move'], toTop: [false] } },
			default: { mode: 'list', value: '' },
		},
	),
];

export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const wanted = folderValue(this.getNodeParameter('folder', itemIndex));
	const toTop = this.getNodeParameter('toTop', itemIndex, false) as boolean;
	const destination = toTop
		? undefined
		: folderValue(this.getNodeParameter('destination', itemIndex));
	const { folder, previousPath } = await mailbox.moveFolder(wanted, destination);
	return folderItem(mailbox, folder, itemIndex, { previousPath });
};

import type { INodeProperties } from 'n8n-workflow';

import { MailServiceError } from '../../transport/auth/errors';
import type { OperationExecutor } from '../types';
import { folderItem } from './shared';

export const description: INodeProperties[] = [
	{
		displayName: 'Folder Path',
		name: 'path',
		type: 'string',
		required: true,
		default: '',
		placeholder: 'Inbox/Customers/ACME',
		description:
			'Full path of the new folder with "/" between levels; missing parent folders are created too',
		displayOptions: { show: { resource: ['folder'], operation: ['create'] } },
	},
];

export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const path = String(this.getNodeParameter('path', itemIndex));
	if (!path.split('/').some((p) => p.trim())) {
		throw new MailServiceError(
			'The folder path is empty',
			'Enter a path such as Inbox/Customers.',
			'input',
		);
	}
	const { folder, created } = await mailbox.createFolder(path);
	return folderItem(mailbox, folder, itemIndex, { created });
};

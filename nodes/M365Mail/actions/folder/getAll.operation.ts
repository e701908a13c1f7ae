import type { INodeProperties } from 'n8n-workflow';
import { returnAllProperties } from '../../shared/descriptions';
import type { OperationExecutor } from '../types';

export const description: INodeProperties[] = returnAllProperties(
	{ resource: ['folder'], operation: ['getAll'] },
	true,
);

/** Lists the mailbox's folders as a flat list with full paths. */
export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	let folders = await mailbox.listFolders();
	if (!(this.getNodeParameter('returnAll', itemIndex) as boolean)) {
		folders = folders.slice(0, this.getNodeParameter('limit', itemIndex) as number);
	}
	return folders.map((folder) => ({
		json: { mailbox: mailbox.address, ...folder, wellKnownName: folder.wellKnownName ?? null },
		pairedItem: { item: itemIndex },
	}));
};

import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import type { Mailbox } from '../../transport/mailbox';

export const description: INodeProperties[] = [
	{
		displayName: 'Return All',
		name: 'returnAll',
		type: 'boolean',
		default: true,
		description: 'Whether to return all results or only up to a given limit',
		displayOptions: { show: { resource: ['folder'], operation: ['getAll'] } },
	},
	{
		displayName: 'Limit',
		name: 'limit',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: 50,
		description: 'Max number of results to return',
		displayOptions: { show: { resource: ['folder'], operation: ['getAll'], returnAll: [false] } },
	},
];

/** Lists the mailbox's folders as a flat list with full paths. */
export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	mailbox: Mailbox,
): Promise<INodeExecutionData[]> {
	let folders = await mailbox.listFolders();
	if (!(this.getNodeParameter('returnAll', itemIndex) as boolean)) {
		folders = folders.slice(0, this.getNodeParameter('limit', itemIndex) as number);
	}
	return folders.map((folder) => ({
		json: { mailbox: mailbox.address, ...folder, wellKnownName: folder.wellKnownName ?? null },
		pairedItem: { item: itemIndex },
	}));
}

import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import type { MailConnection } from '../../transport/connection';
import { listFolders } from '../../transport/imap/folders';
import { resolveMailbox } from '../common';
import type { ImapSessions } from '../sessions';

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
	connection: MailConnection,
	sessions: ImapSessions,
): Promise<INodeExecutionData[]> {
	const mailbox = await resolveMailbox(
		this.getNode(),
		connection,
		this.getNodeParameter('mailbox', itemIndex) as string,
		itemIndex,
	);
	const client = await sessions.get(mailbox);
	let folders = await listFolders(client);
	if (!(this.getNodeParameter('returnAll', itemIndex) as boolean)) {
		folders = folders.slice(0, this.getNodeParameter('limit', itemIndex) as number);
	}
	return folders.map((folder) => ({
		json: {
			mailbox,
			path: folder.path,
			name: folder.name,
			wellKnownName: folder.wellKnownName ?? null,
			delimiter: folder.delimiter,
			subscribed: folder.subscribed,
		},
		pairedItem: { item: itemIndex },
	}));
}

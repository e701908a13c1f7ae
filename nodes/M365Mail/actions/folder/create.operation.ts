import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { MailServiceError } from '../../transport/auth/errors';
import type { MailConnection } from '../../transport/connection';
import { forgetFolders, listFolders } from '../../transport/imap/folders';
import { resolveMailbox } from '../common';
import type { ImapSessions } from '../sessions';

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

export async function execute(
	this: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
	sessions: ImapSessions,
): Promise<INodeExecutionData[]> {
	const parts = String(this.getNodeParameter('path', itemIndex))
		.split('/')
		.map((p) => p.trim())
		.filter(Boolean);
	if (!parts.length) {
		throw new MailServiceError(
			'The folder path is empty',
			'Enter a path such as Inbox/Customers.',
			'input',
		);
	}
	const mailbox = await resolveMailbox(
		this.getNode(),
		connection,
		this.getNodeParameter('mailbox', itemIndex) as string,
		itemIndex,
	);
	const client = await sessions.get(mailbox);
	if (parts[0].toLowerCase() === 'inbox') parts[0] = 'INBOX';
	let created = false;
	// Create each missing level: Exchange does not create parents implicitly.
	for (let depth = 1; depth <= parts.length; depth++) {
		const existing = await listFolders(client);
		const wanted = parts
			.slice(0, depth)
			.join('/')
			.toLowerCase()
			.replace(/^inbox/, 'inbox');
		if (existing.some((f) => f.path.toLowerCase() === wanted)) continue;
		const result = await client.mailboxCreate(parts.slice(0, depth));
		if (!result)
			throw new MailServiceError(
				`The folder "${parts.slice(0, depth).join('/')}" could not be created`,
				'Check the name and your rights on the parent folder.',
				'unknown',
			);
		created = true;
	}
	forgetFolders(client);
	const path = parts.join('/').replace(/^INBOX/, 'Inbox');
	const folder = (await listFolders(client)).find(
		(f) => f.path.toLowerCase() === path.toLowerCase(),
	);
	return [
		{
			json: { mailbox, path, name: folder?.name ?? parts[parts.length - 1], created },
			pairedItem: { item: itemIndex },
		},
	];
}

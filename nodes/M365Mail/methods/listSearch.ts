/** Resource-locator lists: the folders of the chosen mailbox, nested ones by full path. */
import type { ILoadOptionsFunctions, INodeListSearchResult } from 'n8n-workflow';

import { connectNode, resolveMailbox } from '../shared/connection';
import { toNodeError } from '../shared/errors';
import { openMailbox } from '../transport/open';

export async function searchFolders(
	this: ILoadOptionsFunctions,
	filter?: string,
): Promise<INodeListSearchResult> {
	const node = this.getNode();
	try {
		const connection = await connectNode(this, (name, fallback) =>
			this.getNodeParameter(name, fallback),
		);
		const address = await resolveMailbox(
			node,
			connection,
			(this.getNodeParameter('mailbox', '') as string) ?? '',
		);
		const mailbox = openMailbox(connection, address);
		try {
			const needle = (filter ?? '').toLowerCase();
			const folders = (await mailbox.listFolders()).filter(
				(f) => !needle || f.path.toLowerCase().includes(needle),
			);
			return { results: folders.map((f) => ({ name: f.path, value: f.path })) };
		} finally {
			await mailbox.close();
		}
	} catch (error) {
		throw toNodeError(node, error);
	}
}

/** Resource-locator lists: the folders of the chosen mailbox, nested ones by full path. */
import type { ILoadOptionsFunctions, INodeListSearchResult } from 'n8n-workflow';

import { credentialTypeOf, resolveMailbox, toNodeError, transportOf } from '../actions/common';
import { listGraphFolders } from '../transport/graph/mail';
import { connectionFromContext, graphClientFor } from '../transport/connection';
import { listFolders } from '../transport/imap/folders';
import { openImapSession } from '../transport/imap/session';

export async function searchFolders(
	this: ILoadOptionsFunctions,
	filter?: string,
): Promise<INodeListSearchResult> {
	const node = this.getNode();
	try {
		const authentication = this.getNodeParameter('authentication', 'delegated') as string;
		const connection = await connectionFromContext(this, credentialTypeOf(authentication));
		const mailbox = await resolveMailbox(
			node,
			connection,
			(this.getNodeParameter('mailbox', '') as string) ?? '',
		);
		const needle = (filter ?? '').toLowerCase();
		if (
			transportOf(connection, (name, fallback) => this.getNodeParameter(name, fallback)) === 'graph'
		) {
			const graph = graphClientFor(connection, mailbox);
			const folders = (await listGraphFolders(graph)).filter(
				(f) => !needle || f.path.toLowerCase().includes(needle),
			);
			return { results: folders.map((f) => ({ name: f.path, value: f.path })) };
		}
		const client = await openImapSession({ ...connection, mailbox });
		try {
			const folders = (await listFolders(client)).filter(
				(f) => !needle || f.path.toLowerCase().includes(needle),
			);
			return { results: folders.map((f) => ({ name: f.path, value: f.path })) };
		} finally {
			await client.logout().catch(() => client.close());
		}
	} catch (error) {
		throw toNodeError(node, error);
	}
}

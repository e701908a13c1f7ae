/** Resource-locator lists: the folders of the chosen mailbox, nested ones by full path. */
import type { ILoadOptionsFunctions, INodeListSearchResult } from 'n8n-workflow';

import { openNodeMailbox } from '../shared/connection';
import { toNodeError } from '../shared/errors';

export async function searchFolders(
	this: ILoadOptionsFunctions,
	filter?: string,
): Promise<INodeListSearchResult> {
	const node = this.getNode();
	try {
		const mailbox = await openNodeMailbox(this);
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

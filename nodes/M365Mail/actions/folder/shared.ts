/** What the folder operations share: the folder to change, and the item saying what became of it. */
import type { INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { folderLocator } from '../../shared/descriptions';
import type { Mailbox } from '../../transport/mailbox';
import type { MailFolder } from '../../transport/types';

/** The folder an operation changes: no default (an Inbox picked by accident is refused anyway). */
export function folderToChange(operation: string, description: string): INodeProperties {
	return folderLocator('folder', 'Folder', description, {
		displayOptions: { show: { resource: ['folder'], operation: [operation] } },
		default: { mode: 'list', value: '' },
	});
}

/** The item of a folder operation: the mailbox, the folder's path, name and id, and `extra`. */
export function folderItem(
	mailbox: Mailbox,
	folder: MailFolder,
	itemIndex: number,
	extra: Record<string, unknown>,
): INodeExecutionData[] {
	const { path, name, id } = folder;
	const json = { mailbox: mailbox.address, path, name, ...(id ? { id } : {}), ...extra };
	return [{ json, pairedItem: { item: itemIndex } }] as INodeExecutionData[];
}

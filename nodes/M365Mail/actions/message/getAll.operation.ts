import type {
	IDataObject,
	IExecuteFunctions,
	INodeExecutionData,
	INodeProperties,
} from 'n8n-workflow';

import type { MessageFilters } from '../../transport/types';
import { parameterDate } from '../../shared/dates';
import {
	filtersFrom,
	filtersProperty,
	folderLocator,
	folderValue,
	returnAllProperties,
} from '../../shared/descriptions';
import { readOptionsFor, toItem } from '../../shared/output';
import { readOutputOptions } from './get.operation';
import type { OperationExecutor } from '../types';

const show = { resource: ['message'], operation: ['getAll'] };

export const description: INodeProperties[] = [
	folderLocator('folder', 'Folder', 'The folder to search', { displayOptions: { show } }),
	...returnAllProperties(show, false),
	(() => {
		const base = filtersProperty({ displayOptions: { show } });
		return {
			...base,
			options: [
				...(base.options as INodeProperties[]),
				{
					displayName: 'Received After',
					name: 'receivedAfter',
					type: 'dateTime',
					default: '',
					description:
						'Only messages received on or after this day (IMAP compares dates, not times)',
				},
				{
					displayName: 'Received Before',
					name: 'receivedBefore',
					type: 'dateTime',
					default: '',
					description: 'Only messages received before this day',
				},
				{
					displayName: 'Search',
					name: 'search',
					type: 'string',
					default: '',
					placeholder: 'invoice 2026',
					description:
						'Words to find in the subject, body or addresses. Microsoft Graph runs it as a $search (KQL such as from:alice or subject:invoice works; results come by sent date); IMAP as SEARCH TEXT.',
				},
				{
					displayName: 'Unread Only',
					name: 'unreadOnly',
					type: 'boolean',
					default: true,
					description: 'Whether to return only unread messages',
				},
				// Code-unit order (the names are ASCII): localeCompare would start ICU's collator at load.
			].sort((a, b) => (a.displayName < b.displayName ? -1 : 1)),
		} as INodeProperties;
	})(),
];

/** Get Many's filters (the trigger's plus dates and unread only) and its limit. */
export function readSearch(
	ctx: IExecuteFunctions,
	itemIndex: number,
): { filters: MessageFilters; limit: number } {
	const raw = ctx.getNodeParameter('filters', itemIndex, {}) as IDataObject;
	const filters = filtersFrom(raw);
	if (raw.unreadOnly === true) filters.unreadOnly = true;
	if (typeof raw.search === 'string' && raw.search.trim()) filters.search = raw.search.trim();
	filters.receivedAfter = parameterDate(ctx, raw.receivedAfter, 'Received After');
	filters.receivedBefore = parameterDate(ctx, raw.receivedBefore, 'Received Before');
	const limit = (ctx.getNodeParameter('returnAll', itemIndex) as boolean)
		? Infinity
		: (ctx.getNodeParameter('limit', itemIndex) as number);
	return { filters, limit };
}

/** Newest first, up to the limit, with the filters checked as the trigger checks them. */
export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const { filters, limit } = readSearch(this, itemIndex);
	const output = readOutputOptions(this, itemIndex);
	const folder = folderValue(this.getNodeParameter('folder', itemIndex));
	const items: INodeExecutionData[] = [];
	for await (const fetched of mailbox.findMessages(
		folder,
		filters,
		limit,
		readOptionsFor(output),
	)) {
		const item = await toItem(fetched, output, async (data, name, mime) =>
			this.helpers.prepareBinaryData(data, name, mime),
		);
		items.push({ ...item, pairedItem: { item: itemIndex } });
	}
	return items;
};

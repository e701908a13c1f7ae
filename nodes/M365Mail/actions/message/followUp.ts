/**
 * Parameters of Outlook's follow-up flag dates and categories (optional capabilities of a mailbox:
 * Microsoft Graph has them, IMAP does not).
 */
import type { IDataObject, IExecuteFunctions, INodeProperties } from 'n8n-workflow';

import { MailServiceError } from '../../transport/auth/errors';
import { splitList } from '../../transport/types';
import { parameterDate } from '../../shared/dates';

export const categoriesDescription: INodeProperties[] = [
	{
		displayName: 'Categories',
		name: 'categories',
		type: 'string',
		default: '',
		placeholder: 'Red category, Invoices',
		description:
			'Outlook category names, separated by commas or ";". Names that are not in the mailbox’s master list show without a colour.',
		displayOptions: { show: { resource: ['message'], operation: ['setCategories'] } },
	},
	{
		displayName: 'Mode',
		name: 'categoryMode',
		type: 'options',
		options: [
			{
				name: 'Add',
				value: 'add',
				description: 'Add these categories, keep the others',
			},
			{
				name: 'Remove',
				value: 'remove',
				description: 'Remove these categories, keep the others',
			},
			{
				name: 'Replace',
				value: 'replace',
				description: 'The message has exactly these categories afterwards (empty clears them)',
			},
		],
		default: 'add',
		description: 'How the categories change',
		displayOptions: { show: { resource: ['message'], operation: ['setCategories'] } },
	},
];

export function readCategories(
	ctx: IExecuteFunctions,
	itemIndex: number,
): { categories: string[]; mode: 'add' | 'remove' | 'replace' } {
	return {
		categories: splitList(ctx.getNodeParameter('categories', itemIndex, '') as string),
		mode: ctx.getNodeParameter('categoryMode', itemIndex, 'add') as 'add' | 'remove' | 'replace',
	};
}

export const flagOptionsDescription: INodeProperties = {
	displayName: 'Options',
	name: 'flagOptions',
	type: 'collection',
	placeholder: 'Add Option',
	default: {},
	displayOptions: { show: { resource: ['message'], operation: ['flag'] } },
	description: 'Dates of the follow-up flag (Microsoft Graph only)',
	options: [
		{
			displayName: 'Due Date',
			name: 'dueDate',
			type: 'dateTime',
			default: '',
			description:
				'When the follow-up is due (Microsoft Graph only; IMAP flags have no dates). Outlook shows it in the To Do list.',
		},
		{
			displayName: 'Start Date',
			name: 'startDate',
			type: 'dateTime',
			default: '',
			description: 'When the follow-up starts; now if empty (Microsoft Graph only)',
		},
	],
};

/** The flag's dates, checked: a due date before its start is a mistake to report, not to fix. */
export function readFlagDates(
	ctx: IExecuteFunctions,
	itemIndex: number,
): { dueDate?: Date; startDate?: Date } {
	const raw = ctx.getNodeParameter('flagOptions', itemIndex, {}) as IDataObject;
	const date = (name: string) => {
		return parameterDate(ctx, raw[name], name === 'dueDate' ? 'the Due Date' : 'the Start Date');
	};
	const dueDate = date('dueDate');
	const startDate = date('startDate');
	if (startDate && !dueDate) {
		throw new MailServiceError(
			'A start date needs a due date',
			'Add a Due Date, or remove the Start Date.',
			'input',
		);
	}
	if (dueDate && startDate && startDate > dueDate) {
		throw new MailServiceError(
			'The start date is after the due date',
			'Choose a Start Date on or before the Due Date.',
			'input',
		);
	}
	return { dueDate, startDate };
}

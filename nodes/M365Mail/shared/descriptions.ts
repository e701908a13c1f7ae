/**
 * Parameters the trigger and the action node share, so both say "message", "folder" and "mailbox"
 * the same way: folder locator, filters, output format, attachments.
 */
import type { IDataObject, INodeCredentialDescription, INodeProperties } from 'n8n-workflow';

import { splitList, type Importance, type MessageFilters } from '../transport/types';
import { MailServiceError } from '../transport/auth/errors';
import { APP_ONLY_CREDENTIAL, DELEGATED_CREDENTIAL } from '../transport/auth/credentials';

/** Both nodes' icon (paths relative to the node files beside this folder). */
export const NODE_ICON = {
	light: 'file:../../icons/m365mail.svg',
	dark: 'file:../../icons/m365mail.dark.svg',
} as const;

/** The triggers' subtitle: the folder (the canvas may hand a locator over as its object or its value). */
export const FOLDER_SUBTITLE =
	'={{"Folder: " + ($parameter["folder"].cachedResultName || $parameter["folder"].value || $parameter["folder"])}}';

/** Both nodes take either credential, chosen by the Authentication parameter. */
export const NODE_CREDENTIALS: INodeCredentialDescription[] = [
	{
		name: DELEGATED_CREDENTIAL,
		required: true,
		displayOptions: { show: { authentication: ['delegated'] } },
	},
	{
		name: APP_ONLY_CREDENTIAL,
		required: true,
		testedBy: 'm365MailAppOnlyTest',
		displayOptions: { show: { authentication: ['appOnly'] } },
	},
];

export const authenticationProperty: INodeProperties = {
	displayName: 'Authentication',
	name: 'authentication',
	type: 'options',
	options: [
		{
			name: 'OAuth2 (Delegated)',
			value: 'delegated',
			description: 'A signed-in user; their own mailbox or mailboxes shared with them',
		},
		{
			name: 'App-Only (Client Credentials)',
			value: 'appOnly',
			description: 'The app itself, for service and shared mailboxes granted to it',
		},
	],
	default: 'delegated',
	description: 'Which kind of Microsoft 365 Mail credential to use',
};

export const protocolProperty: INodeProperties = {
	displayName: 'Protocol',
	name: 'protocol',
	type: 'options',
	options: [
		{
			name: 'Microsoft Graph',
			value: 'graph',
			description: 'Needs the Mail.ReadWrite / Mail.Send application permissions',
		},
		{
			name: 'IMAP + SMTP',
			value: 'imap',
			description: 'Needs IMAP.AccessAsApp / SMTP.SendAsApp and the Exchange service principal',
		},
	],
	default: 'graph',
	description:
		'How the app-only credential reaches the mailbox. (A delegated credential uses the access it was connected for.).',
	displayOptions: { show: { authentication: ['appOnly'] } },
};

export const mailboxProperty: INodeProperties = {
	displayName: 'Mailbox',
	name: 'mailbox',
	type: 'string',
	default: '',
	placeholder: 'shared@contoso.com',
	description:
		'Address of the mailbox to use. Leave empty for the signed-in user’s own mailbox; required with app-only credentials.',
};

/** Which operations a resource offers, for the description's options. */
export function operationProperty(
	resource: string,
	options: Array<{ name: string; value: string; description: string; action: string }>,
	defaultValue: string,
): INodeProperties {
	return {
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: { resource: [resource] } },
		options,
		default: defaultValue,
		description: `What to do with the ${resource}`,
	};
}

/** Outlook's three importance levels, as both filters and sending offer them. */
export const IMPORTANCE_OPTIONS = [
	{ name: 'High', value: 'high' },
	{ name: 'Normal', value: 'normal' },
	{ name: 'Low', value: 'low' },
];

const returnAllProperty: INodeProperties = {
	displayName: 'Return All',
	name: 'returnAll',
	type: 'boolean',
	default: false,
	description: 'Whether to return all results or only up to a given limit',
};

/** Return All and Limit, as n8n's own list operations have them. */
export function returnAllProperties(
	show: Record<string, string[]>,
	returnAll: boolean,
): INodeProperties[] {
	return [
		{ ...returnAllProperty, default: returnAll, displayOptions: { show } },
		{
			displayName: 'Limit',
			name: 'limit',
			type: 'number',
			typeOptions: { minValue: 1 },
			default: 50,
			description: 'Max number of results to return',
			displayOptions: { show: { ...show, returnAll: [false] } },
		},
	];
}

/** A folder picker: searchable list of the mailbox's folders, or a path typed by hand. */
export function folderLocator(
	name: string,
	displayName: string,
	description: string,
	extra: Partial<INodeProperties> = {},
): INodeProperties {
	return {
		displayName,
		name,
		type: 'resourceLocator',
		default: { mode: 'list', value: 'Inbox', cachedResultName: 'Inbox' },
		required: true,
		description,
		modes: [
			{
				displayName: 'From List',
				name: 'list',
				type: 'list',
				typeOptions: { searchListMethod: 'searchFolders', searchable: true },
			},
			{
				displayName: 'By Path',
				name: 'path',
				type: 'string',
				placeholder: 'Inbox/Tech-Support',
				hint: 'Full path with "/" between levels, or a well-known name: inbox, sentitems, drafts, deleteditems, junkemail, archive',
			},
		],
		...extra,
	};
}

export function filtersProperty(extra: Partial<INodeProperties> = {}): INodeProperties {
	return {
		displayName: 'Filters',
		name: 'filters',
		type: 'collection',
		placeholder: 'Add Filter',
		default: {},
		description:
			'Only messages that match every filter you add. Within one filter, several addresses separated by ";" match when any of them does (as in Power Automate).',
		options: [
			{
				displayName: 'CC',
				name: 'cc',
				type: 'string',
				default: '',
				description: 'Addresses in Cc (or parts of them), separated by ";"; any may match',
			},
			{
				displayName: 'From',
				name: 'from',
				type: 'string',
				default: '',
				placeholder: 'alerts@contoso.com; billing@',
				description: 'Sender addresses (or parts of them), separated by ";"; any may match',
			},
			{
				displayName: 'Importance',
				name: 'importance',
				type: 'options',
				options: IMPORTANCE_OPTIONS,
				default: 'high',
				description: 'Only messages of this importance (Importance or X-Priority header)',
			},
			{
				displayName: 'Only With Attachments',
				name: 'hasAttachments',
				type: 'boolean',
				default: true,
				description:
					'Whether to keep only messages with file attachments (inline images do not count)',
			},
			{
				displayName: 'Subject Contains',
				name: 'subjectContains',
				type: 'string',
				default: '',
				description: 'Text the subject must contain (case-insensitive)',
			},
			{
				displayName: 'To',
				name: 'to',
				type: 'string',
				default: '',
				description: 'Addresses in To (or parts of them), separated by ";"; any may match',
			},
			{
				displayName: 'To or CC',
				name: 'toOrCc',
				type: 'string',
				default: '',
				description: 'Addresses in To or Cc, separated by ";"; any may match',
			},
		],
		...extra,
	};
}

export const outputProperty: INodeProperties = {
	displayName: 'Output',
	name: 'output',
	type: 'options',
	options: [
		{
			name: 'Simple',
			value: 'simple',
			description:
				'Sender, recipients, subject, text, HTML, date, IDs, flags and the headers of interest; fastest',
		},
		{
			name: 'Full',
			value: 'full',
			description: 'Everything the MIME parser reads, all headers included',
		},
		{
			name: 'Raw',
			value: 'raw',
			description:
				'The complete message as an .eml file in binary property "raw", with the simple fields in JSON',
		},
	],
	default: 'simple',
	description: 'How much of each message to return',
};

export const attachmentProperties: INodeProperties[] = [
	{
		displayName: 'Download Attachments',
		name: 'downloadAttachments',
		type: 'boolean',
		default: false,
		description:
			'Whether to add the attachments as binary properties (attachment_0, attachment_1...). Slower: the whole message is downloaded.',
	},
];

export const attachmentOptions: INodeProperties[] = [
	{
		displayName: 'Attachment Prefix',
		name: 'attachmentPrefix',
		type: 'string',
		default: 'attachment_',
		description: 'Prefix of the binary property names of attachments, followed by 0, 1, 2',
	},
	{
		displayName: 'Include Inline Images',
		name: 'includeInlineImages',
		type: 'boolean',
		default: false,
		description:
			'Whether to also download images embedded in the HTML body (signatures, logos) as binary properties',
	},
];

/** Reads the filters collection into our filter type (address lists split on ";" and ","). */
export function filtersFrom(values: IDataObject): MessageFilters {
	const filters: MessageFilters = {};
	for (const key of ['from', 'to', 'cc', 'toOrCc'] as const) {
		const list = splitList(values[key] as string | undefined);
		if (list.length) filters[key] = list;
	}
	const subject = String(values.subjectContains ?? '').trim();
	if (subject) filters.subjectContains = subject;
	if (values.importance) {
		// It reaches an OData $filter: only the three values Graph knows.
		const importance = String(values.importance).toLowerCase();
		if (!['low', 'normal', 'high'].includes(importance)) {
			throw new MailServiceError(
				'Importance must be Low, Normal or High',
				'Pick one of the three values (an expression must give "low", "normal" or "high").',
				'input',
			);
		}
		filters.importance = importance as Importance;
	}
	if (typeof values.hasAttachments === 'boolean') filters.hasAttachments = values.hasAttachments;
	return filters;
}

/** The value of a folder resource locator (list or path mode). */
export function folderValue(locator: unknown): string {
	if (locator && typeof locator === 'object') {
		return String((locator as { value?: unknown }).value ?? '').trim();
	}
	return String(locator ?? '').trim();
}

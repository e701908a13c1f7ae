/**
 * Message > Send and Wait for Response: one message with signed links to this execution, which waits
 * until a recipient answers on the page a link opens (or the time limit passes). The answer arrives
 * through the node's webhook (`response.ts`); this file holds the parameters, the message and the
 * time limit.
 *
 * Unlike a bare approval link, a link here only opens a page: the answer is recorded when the
 * recipient presses its button (a POST). Mail scanners such as Microsoft Defender's Safe Links open
 * every link in a message before the recipient does; with a link that answered on opening, they
 * would approve in the recipient's place.
 */
import {
	NodeOperationError,
	SEND_AND_WAIT_OPERATION,
	WAIT_INDEFINITELY,
	type IDataObject,
	type IExecuteFunctions,
	type INodeProperties,
} from 'n8n-workflow';

import type { Mailbox } from '../../transport/mailbox';
import { splitAddresses } from '../../transport/mime/addresses';
import { FormDefinitionError, formFields, formProperties, type FormField } from './responseForm';
import { approvalLabel, emailHtml, emailText, type ResponseLink } from './responsePages';
import { fromNameOption, recipientsProperty, sendAs, subjectProperty } from './send';

const show = { resource: ['message'], operation: [SEND_AND_WAIT_OPERATION] };

/** The webhooks n8n resumes the waiting execution through: a link's page (GET) and its button (POST). */
export const responseWebhooks = (['GET', 'POST'] as const).map((httpMethod) => ({
	name: 'default' as const,
	httpMethod,
	responseMode: 'onReceived',
	responseData: '',
	path: '={{ $nodeId }}',
	restartWebhook: true,
	isFullPath: true,
}));

export const description: INodeProperties[] = [
	recipientsProperty(SEND_AND_WAIT_OPERATION, 'manager@contoso.com'),
	subjectProperty(SEND_AND_WAIT_OPERATION, {
		required: true,
		placeholder: 'e.g. Approval required',
		description: 'Subject line, also the title of the page a link opens',
	}),
	{
		displayName: 'Message',
		name: 'message',
		type: 'string',
		required: true,
		typeOptions: { rows: 4 },
		default: '',
		description:
			'What the recipient is asked, as plain text (shown as written: HTML in it is not run). It appears in the mail and on the page a link opens.',
		displayOptions: { show },
	},
	{
		displayName: 'Response Type',
		name: 'responseType',
		type: 'options',
		default: 'approval',
		options: [
			{
				name: 'Approval',
				value: 'approval',
				description: 'The recipient approves (or declines) with a button',
			},
			{
				name: 'Free Text',
				value: 'freeText',
				description: 'The recipient writes an answer in a form',
			},
			{
				name: 'Custom Form',
				value: 'customForm',
				description: 'The recipient fills in a form with the fields you define',
			},
		],
		description: 'How the recipient answers',
		displayOptions: { show },
	},
	{
		displayName: 'Approval Options',
		name: 'approvalOptions',
		type: 'fixedCollection',
		placeholder: 'Add option',
		default: {},
		description: 'Which buttons the mail has, and their labels',
		options: [
			{
				displayName: 'Values',
				name: 'values',
				values: [
					{
						displayName: 'Type of Approval',
						name: 'approvalType',
						type: 'options',
						default: 'single',
						options: [
							{ name: 'Approve Only', value: 'single' },
							{ name: 'Approve and Decline', value: 'double' },
						],
						description: 'Whether the recipient can only approve, or also decline',
					},
					{
						displayName: 'Approve Button Label',
						name: 'approveLabel',
						type: 'string',
						default: 'Approve',
						description: 'Text of the approve button',
					},
					{
						displayName: 'Decline Button Label',
						name: 'disapproveLabel',
						type: 'string',
						default: 'Decline',
						description: 'Text of the decline button',
						displayOptions: { show: { approvalType: ['double'] } },
					},
				],
			},
		],
		displayOptions: { show: { ...show, responseType: ['approval'] } },
	},
	...formProperties(show),
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		description: 'Further settings: add only those you need',
		displayOptions: { show },
		options: [
			fromNameOption,
			{
				displayName: 'Limit Wait Time',
				name: 'limitWaitTime',
				type: 'fixedCollection',
				default: {
					values: { limitType: 'afterTimeInterval', resumeAmount: 45, resumeUnit: 'minutes' },
				},
				description:
					'Whether to stop waiting for an answer after a while; the node then passes its input on, without an answer',
				options: [
					{
						displayName: 'Values',
						name: 'values',
						values: [
							{
								displayName: 'Limit Type',
								name: 'limitType',
								type: 'options',
								default: 'afterTimeInterval',
								options: [
									{ name: 'After Time Interval', value: 'afterTimeInterval' },
									{ name: 'At Specified Time', value: 'atSpecifiedTime' },
								],
								description: 'Wait for a length of time, or until a date and time',
							},
							{
								displayName: 'Amount',
								name: 'resumeAmount',
								type: 'number',
								typeOptions: { minValue: 0, numberPrecision: 2 },
								default: 45,
								description: 'How long to wait',
								displayOptions: { show: { limitType: ['afterTimeInterval'] } },
							},
							{
								displayName: 'Unit',
								name: 'resumeUnit',
								type: 'options',
								default: 'minutes',
								options: [
									{ name: 'Minutes', value: 'minutes' },
									{ name: 'Hours', value: 'hours' },
									{ name: 'Days', value: 'days' },
								],
								description: 'Unit of the amount',
								displayOptions: { show: { limitType: ['afterTimeInterval'] } },
							},
							{
								displayName: 'Max Date and Time',
								name: 'maxDateAndTime',
								type: 'dateTime',
								default: '',
								description: 'Stop waiting at this date and time',
								displayOptions: { show: { limitType: ['atSpecifiedTime'] } },
							},
						],
					},
				],
			},
			{
				displayName: 'Respond Button Label',
				name: 'respondLabel',
				type: 'string',
				default: 'Respond',
				description: 'Text of the button in the mail that opens the form',
				displayOptions: { show: { '/responseType': ['freeText', 'customForm'] } },
			},
			...(
				[
					['Title', 'Title of the form page (the subject if empty)'],
					['Description', 'Text above the form (the message if empty), shown as written'],
					['Button Label', 'Text of the button that sends the answer ("Send" if empty)'],
				] as const
			).map(
				([what, description]): INodeProperties => ({
					displayName: `Response Form ${what}`,
					name: `responseForm${what.replace(' ', '')}`,
					type: 'string',
					default: '',
					description,
					displayOptions: { show: { '/responseType': ['freeText', 'customForm'] } },
				}),
			),
		],
	},
];

const UNIT_MS: Record<string, number> = { minutes: 60_000, hours: 3_600_000, days: 86_400_000 };

/** Until when the execution waits: n8n's "indefinitely", or the limit the options set. */
export function waitTill(ctx: IExecuteFunctions, now = Date.now()): Date {
	const limit = ctx.getNodeParameter('options.limitWaitTime.values', 0, {}) as IDataObject;
	if (!Object.keys(limit).length) return WAIT_INDEFINITELY;
	const until =
		(limit.limitType ?? 'afterTimeInterval') === 'afterTimeInterval'
			? new Date(
					now +
						Number(limit.resumeAmount ?? 45) *
							(UNIT_MS[String(limit.resumeUnit ?? 'minutes')] ?? Number.NaN),
				)
			: new Date(String(limit.maxDateAndTime ?? ''));
	if (Number.isNaN(until.getTime()) || until.getTime() <= now - 1000)
		throw new NodeOperationError(ctx.getNode(), 'The wait time limit is not a time to come', {
			description:
				'Set "Limit Wait Time" to an amount of minutes, hours or days, or to a date and time in the future; or remove it to wait until someone answers.',
		});
	return until;
}

/** The buttons of the mail, each a link n8n signs for this execution and this node. */
export function responseLinks(ctx: IExecuteFunctions): ResponseLink[] {
	const link = (label: string, approved: boolean): ResponseLink => ({
		label,
		approved,
		url: ctx.getSignedResumeUrl({ approved: String(approved) }),
	});
	if (ctx.getNodeParameter('responseType', 0, 'approval') !== 'approval')
		return [link(String(ctx.getNodeParameter('options.respondLabel', 0, '') || 'Respond'), true)];
	const values = ctx.getNodeParameter('approvalOptions.values', 0, {}) as IDataObject;
	const approve = link(approvalLabel(values, true), true);
	return values.approvalType === 'double'
		? [link(approvalLabel(values, false), false), approve]
		: [approve];
}

/**
 * The Custom Form's fields, checked as the page will read them: a form that cannot be shown or
 * answered is refused before the mail goes out, with the fix.
 */
export function customFormFields(ctx: IExecuteFunctions): FormField[] {
	try {
		return formFields((name, fallback) => ctx.getNodeParameter(name, 0, fallback));
	} catch (error) {
		throw error instanceof FormDefinitionError
			? new NodeOperationError(ctx.getNode(), error.message, { description: error.fix })
			: new NodeOperationError(ctx.getNode(), error as Error);
	}
}

/** Sends the one message of the execution (from the first item's parameters), as the mailbox. */
export async function sendForResponse(ctx: IExecuteFunctions, mailbox: Mailbox): Promise<void> {
	const to = await splitAddresses(ctx.getNodeParameter('to', 0, '') as string);
	if (!to.length)
		throw new NodeOperationError(ctx.getNode(), 'The message has no recipient', {
			description: 'Add the address of the person who should answer under "To".',
		});
	if (ctx.getNodeParameter('responseType', 0, 'approval') === 'customForm') customFormFields(ctx);
	const subject = String(ctx.getNodeParameter('subject', 0, ''));
	const message = String(ctx.getNodeParameter('message', 0, ''));
	const links = responseLinks(ctx);
	await sendAs(
		mailbox,
		{
			to,
			subject,
			text: emailText(message, links),
			html: emailHtml(subject, message, links),
			fromName: (ctx.getNodeParameter('options.fromName', 0, '') as string) || undefined,
		},
		false,
	);
}

/** What send, reply and forward share: their options, and sending as the item's mailbox. */
import type { IDataObject, IExecuteFunctions, INodeProperties } from 'n8n-workflow';

import { IMPORTANCE_OPTIONS } from '../../shared/descriptions';
import type { Mailbox } from '../../transport/mailbox';
import { splitAddresses } from '../../transport/mime/addresses';
import type { OutgoingMessage } from '../../transport/mime/compose';
import type { DraftOutcome, Importance, SendOutcome } from '../../transport/types';
import { binaryAttachments, customHeaders } from './helpers';

/** The recipients field of send, forward and a new draft (which may have none yet). */
export function recipientsProperty(
	operation: string,
	placeholder?: string,
	required = true,
): INodeProperties {
	return {
		displayName: 'To',
		name: 'to',
		type: 'string',
		required,
		default: '',
		...(placeholder ? { placeholder } : {}),
		description: required
			? 'Recipients, separated by commas or ";"'
			: 'Recipients, separated by commas or ";"; a draft may have none yet',
		displayOptions: { show: { resource: ['message'], operation: [operation] } },
	};
}

/** The subject of a new message: sent, or saved as a draft; `more` for what one operation adds. */
export function subjectProperty(
	operation: string,
	more: Partial<INodeProperties> = {},
): INodeProperties {
	return {
		displayName: 'Subject',
		name: 'subject',
		type: 'string',
		default: '',
		description: 'Subject line',
		displayOptions: { show: { resource: ['message'], operation: [operation] } },
		...more,
	};
}

/** The plain-text body of send, reply and forward. */
export function textProperty(operation: string, description: string, rows = 5): INodeProperties {
	return {
		displayName: 'Text',
		name: 'text',
		type: 'string',
		typeOptions: { rows },
		default: '',
		description,
		displayOptions: { show: { resource: ['message'], operation: [operation] } },
	};
}

export const fromNameOption: INodeProperties = {
	displayName: 'From Name',
	name: 'fromName',
	type: 'string',
	default: '',
	description: 'Display name shown with the sending mailbox’s address',
};

export const appendToSentOption: INodeProperties = {
	displayName: 'Append to Sent Items',
	name: 'appendToSent',
	type: 'boolean',
	default: false,
	description:
		'Whether to also save a copy in Sent Items over IMAP. Exchange Online already saves mail sent over SMTP there: turn on only for servers that do not.',
};

/** Options every sending operation offers (a draft, which is not sent yet, has no Sent Items copy). */
export function sendOptions(
	operations: string[],
	extra: INodeProperties[] = [],
	{ sent = true } = {},
): INodeProperties {
	return {
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: { show: { resource: ['message'], operation: operations } },
		description: 'Further settings of the mail: add only those you need',
		options: [
			...extra,
			...(sent ? [appendToSentOption] : []),
			{
				displayName: 'Attachments',
				name: 'attachments',
				type: 'string',
				default: '',
				placeholder: 'data, invoice',
				description: 'Names of the input item’s binary properties to attach, separated by commas',
			},
			{
				displayName: 'BCC',
				name: 'bcc',
				type: 'string',
				default: '',
				description: 'Blind-copy recipients, separated by commas or ";"',
			},
			{
				displayName: 'CC',
				name: 'cc',
				type: 'string',
				default: '',
				description: 'Copy recipients, separated by commas or ";"',
			},
			{
				displayName: 'Custom Headers',
				name: 'customHeaders',
				type: 'fixedCollection',
				typeOptions: { multipleValues: true },
				default: {},
				description: 'Extra headers such as X-Ticket-ID',
				options: [
					{
						displayName: 'Header',
						name: 'header',
						values: [
							{
								displayName: 'Name',
								name: 'name',
								type: 'string',
								default: '',
								description: 'Header name, for example X-Ticket-ID',
							},
							{
								displayName: 'Value',
								name: 'value',
								type: 'string',
								default: '',
								description: 'Header value',
							},
						],
					},
				],
			},
			fromNameOption,
			{
				displayName: 'HTML',
				name: 'html',
				type: 'string',
				typeOptions: { rows: 5 },
				default: '',
				description: 'HTML body; with a text body too, the message carries both',
			},
			{
				displayName: 'Importance',
				name: 'importance',
				type: 'options',
				options: IMPORTANCE_OPTIONS,
				default: 'normal',
				description: 'Importance shown by Outlook (Importance and X-Priority headers)',
			},
			{
				displayName: 'Reply-To',
				name: 'replyTo',
				type: 'string',
				default: '',
				description: 'Addresses replies should go to, separated by commas or ";"',
			},
		],
	};
}

function formatFrom(mailbox: string, name: string | undefined): string {
	const display = (name ?? '').replace(/["\\\r\n]/g, '').trim();
	return display ? `"${display}" <${mailbox}>` : mailbox;
}

/** Sends as the mailbox, with the display name the options chose; the result goes in the item. */
export async function sendAs(
	mailbox: Mailbox,
	message: Omit<OutgoingMessage, 'from'> & { fromName?: string },
	appendToSent: boolean,
): Promise<SendOutcome & IDataObject> {
	const outgoing = { ...message, from: formatFrom(mailbox.address, message.fromName) };
	return { ...(await mailbox.send(outgoing, { appendToSent })) };
}

/** Saves the message in Drafts as the mailbox, unsent, with the display name the options chose. */
export async function draftAs(
	mailbox: Mailbox,
	message: Omit<OutgoingMessage, 'from'> & { fromName?: string },
): Promise<DraftOutcome & IDataObject> {
	const outgoing = { ...message, from: formatFrom(mailbox.address, message.fromName) };
	return { ...(await mailbox.saveDraft(outgoing)), draft: true };
}

/** The new message of Send and Create Draft: To, Subject and Text, with what the options add. */
export async function readNewMessage(
	ctx: IExecuteFunctions,
	itemIndex: number,
	send: SendOptionValues,
): Promise<Omit<OutgoingMessage, 'from'> & { fromName?: string }> {
	return {
		...send.message,
		to: await splitAddresses(ctx.getNodeParameter('to', itemIndex, '') as string),
		subject: ctx.getNodeParameter('subject', itemIndex) as string,
		text: (ctx.getNodeParameter('text', itemIndex) as string) || undefined,
	};
}

/** Reply's and Forward's "Save as Draft": the message is left in Drafts, not sent. */
export function saveAsDraftOption(what: 'reply' | 'forward'): INodeProperties {
	const answered =
		what === 'reply' ? ' The original is marked as answered only when the reply is sent.' : '';
	return {
		displayName: 'Save as Draft',
		name: 'saveAsDraft',
		type: 'boolean',
		default: false,
		description: `Whether to save the ${what} in Drafts, addressed and with the original, for a person to review and send from Outlook, instead of sending it.${answered}`,
	};
}

/** Sends the message, or with "Save as Draft" saves it in Drafts; what the item says, and which. */
export async function sendOrDraft(
	mailbox: Mailbox,
	message: Omit<OutgoingMessage, 'from'> & { fromName?: string },
	send: SendOptionValues,
): Promise<{ outcome: IDataObject; sent: boolean }> {
	if (send.options.saveAsDraft === true)
		return { outcome: await draftAs(mailbox, message), sent: false };
	return { outcome: await sendAs(mailbox, message, send.appendToSent), sent: true };
}

/** What every sending operation reads from its Options collection, ready for the composer. */
export interface SendOptionValues {
	/** The raw collection, for options only one operation has (Include Original). */
	options: IDataObject;
	message: Pick<
		OutgoingMessage,
		'cc' | 'bcc' | 'replyTo' | 'html' | 'importance' | 'headers' | 'attachments'
	> & { fromName?: string };
	appendToSent: boolean;
}

/** Reads an item's send options once: recipients beyond To, HTML, headers, binary attachments. */
export async function readSendOptions(
	ctx: IExecuteFunctions,
	itemIndex: number,
): Promise<SendOptionValues> {
	const options = ctx.getNodeParameter('options', itemIndex, {}) as IDataObject;
	return {
		options,
		message: {
			cc: await splitAddresses(options.cc as string),
			bcc: await splitAddresses(options.bcc as string),
			replyTo: await splitAddresses(options.replyTo as string),
			html: (options.html as string) || undefined,
			importance: (options.importance as Importance) ?? 'normal',
			headers: customHeaders(options.customHeaders as IDataObject),
			attachments: await binaryAttachments(ctx, itemIndex, String(options.attachments ?? '')),
			fromName: options.fromName as string | undefined,
		},
		appendToSent: options.appendToSent === true,
	};
}

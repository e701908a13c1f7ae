/** What message operations share: the message locator, opening its folder, building replies. */
import type { IDataObject, IExecuteFunctions, INodeProperties } from 'n8n-workflow';

import { MailServiceError } from '../../transport/auth/errors';
import { graphClientFor, type MailConnection } from '../../transport/connection';
import type { MailFolder } from '../../transport/imap/folders';
import { withFolder } from '../../transport/imap/mailbox';
import {
	changeFlags,
	fetchMessages,
	fetchMetadata,
	type FetchedMessage,
	type MessageContent,
	type OpenFolder,
} from '../../transport/imap/messages';
import type { OutgoingAttachment } from '../../transport/mime/compose';
import { fetchGraphContent, getGraphMessage } from '../../transport/graph/mail';
import { decodeImapMessageId, splitList, type ImapMessageLocation } from '../../transport/types';
import { resolveMailbox } from '../common';
import type { ImapSessions } from '../sessions';

export function messageIdProperty(operations: string[], resource = 'message'): INodeProperties {
	return {
		displayName: 'Message ID',
		name: 'messageId',
		type: 'string',
		required: true,
		default: '',
		// eslint-disable-next-line n8n-nodes-base/node-param-placeholder-miscased-id -- the item field is literally "id"
		placeholder: '={{ $json.id }}',
		// eslint-disable-next-line n8n-nodes-base/node-param-description-miscased-id -- names the item field "id"
		description:
			'The "id" field of a message from the trigger or from Get Many, for example imap:1700000000:42:Inbox',
		displayOptions: { show: { resource: [resource], operation: operations } },
	};
}

export interface MessageContext {
	mailbox: string;
	location: ImapMessageLocation;
}

/** Resolves the item's mailbox and message id (validated before any connection). */
export async function messageContext(
	ctx: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
): Promise<MessageContext> {
	const location = decodeImapMessageId(ctx.getNodeParameter('messageId', itemIndex) as string);
	const mailbox = await resolveMailbox(
		ctx.getNode(),
		connection,
		ctx.getNodeParameter('mailbox', itemIndex) as string,
		itemIndex,
	);
	return { mailbox, location };
}

/** Opens the message's folder, checks the id is still valid there, and runs `work`. */
export async function withMessage<T>(
	sessions: ImapSessions,
	context: MessageContext,
	options: { readOnly: boolean },
	work: (open: OpenFolder, folder: MailFolder) => Promise<T>,
): Promise<T> {
	const client = await sessions.get(context.mailbox);
	return await withFolder(
		client,
		context.mailbox,
		context.location.folder,
		options,
		async (open, folder) => {
			if (open.uidValidity !== context.location.uidValidity) {
				throw new MailServiceError(
					`The message ID is out of date: folder "${open.folder}" was reset by the server`,
					'Read the message again (trigger or Get Many) and use the new id.',
					'notFound',
				);
			}
			return await work(open, folder);
		},
	);
}

export function notFound(context: MessageContext): MailServiceError {
	return new MailServiceError(
		`Message ${context.location.uid} not found in "${context.location.folder}" of ${context.mailbox}`,
		'It was moved or deleted. A moved message gets a new id: use the id that Move returned, or find it again with Get Many.',
		'notFound',
	);
}

/** Downloads one message in the given depth; a missing message is a clear error. */
export async function fetchOne(
	open: OpenFolder,
	context: MessageContext,
	content: MessageContent,
	full = false,
	keepRaw = false,
): Promise<FetchedMessage> {
	const [metadata] = await fetchMetadata(open, [context.location.uid]);
	if (!metadata) throw notFound(context);
	const [fetched] = await fetchMessages(open, [metadata], content, { full, keepRaw });
	if (!fetched) throw notFound(context);
	return fetched;
}

/** Attachments from the item's binary properties, named in a comma-separated list. */
export async function binaryAttachments(
	ctx: IExecuteFunctions,
	itemIndex: number,
	names: string,
): Promise<OutgoingAttachment[]> {
	const result: OutgoingAttachment[] = [];
	for (const name of splitList(names)) {
		const binary = ctx.helpers.assertBinaryData(itemIndex, name);
		result.push({
			filename: binary.fileName ?? name,
			contentType: binary.mimeType,
			content: await ctx.helpers.getBinaryDataBuffer(itemIndex, name),
		});
	}
	return result;
}

/** Custom headers from a fixed collection, refusing the ones the composer must own. */
export function customHeaders(values: IDataObject | undefined): Record<string, string> {
	const owned =
		/^(from|to|cc|bcc|subject|date|message-id|content-.*|mime-version|reply-to|in-reply-to|references)$/i;
	const headers: Record<string, string> = {};
	for (const entry of (values?.header as IDataObject[]) ?? []) {
		const name = String(entry.name ?? '').trim();
		if (!name) continue;
		if (owned.test(name) || !/^[!-9;-~]+$/.test(name)) {
			throw new MailServiceError(
				`"${name}" cannot be set as a custom header`,
				'Use the node’s own fields for From, To, Cc, Bcc, Subject and Reply-To; header names are ASCII without spaces or ":".',
				'input',
			);
		}
		headers[name] = String(entry.value ?? '');
	}
	return headers;
}

const escapeHtml = (text: string) =>
	text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The quoted original below a reply or forward, in text and HTML. */
export function quoteOriginal(
	original: FetchedMessage['message'],
	kind: 'reply' | 'forward',
): { text: string; html: string } {
	const from = original.from ? `${original.from.name} <${original.from.address}>`.trim() : '';
	const lines =
		kind === 'forward'
			? [
					'-------- Forwarded message --------',
					`From: ${from}`,
					`Date: ${original.date ?? ''}`,
					`Subject: ${original.subject}`,
					`To: ${original.to.map((a) => a.address).join(', ')}`,
					'',
				]
			: [`On ${original.date ?? 'an earlier date'}, ${from} wrote:`];
	const body = original.text ?? '';
	const text =
		kind === 'forward'
			? `${lines.join('\n')}\n${body}`
			: `${lines[0]}\n${body
					.split('\n')
					.map((l) => `> ${l}`)
					.join('\n')}`;
	const htmlBody = original.html ?? `<pre>${escapeHtml(body)}</pre>`;
	const html =
		kind === 'forward'
			? `<div>${lines.map(escapeHtml).join('<br>')}</div>${htmlBody}`
			: `<div>${escapeHtml(lines[0])}</div><blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex">${htmlBody}</blockquote>`;
	return { text, html };
}

export function prefixedSubject(subject: string, prefix: 'Re' | 'Fw'): string {
	const pattern = prefix === 'Re' ? /^\s*re\s*:/i : /^\s*(fw|fwd)\s*:/i;
	return pattern.test(subject) ? subject : `${prefix}: ${subject}`;
}

/** The stable parts of an item that says what happened to a message. */
export function messageResult(context: MessageContext, extra: IDataObject = {}): IDataObject {
	return {
		id: `imap:${context.location.uidValidity}:${context.location.uid}:${context.location.folder}`,
		mailbox: context.mailbox,
		folder: context.location.folder,
		uid: context.location.uid,
		uidValidity: context.location.uidValidity,
		...extra,
	};
}

/** The item's Graph message id; an IMAP id or none is refused with the fix. */
export function graphMessageId(ctx: IExecuteFunctions, itemIndex: number): string {
	const id = String(ctx.getNodeParameter('messageId', itemIndex) ?? '').trim();
	if (!id || id.startsWith('imap:')) {
		throw new MailServiceError(
			id ? `"${id.slice(0, 60)}" is an IMAP message ID` : 'The Message ID is empty',
			'Over Microsoft Graph, use the "id" of an item from the trigger or Get Many run with Graph access.',
			'input',
		);
	}
	// Graph ids are base64url-like; "." and ".." would walk the URL path once encoded as a segment.
	if (id === '.' || id === '..' || !/^[A-Za-z0-9+/=_-]+$/.test(id)) {
		throw new MailServiceError(
			`The Message ID (${id.length} characters) is not a Microsoft Graph message ID`,
			'Use the "id" of an item from the trigger or Get Many run with Graph access.',
			'input',
			'ErrorInvalidIdMalformed',
		);
	}
	return id;
}

/**
 * The message a reply or forward starts from, over the node's transport, and how to mark it as
 * answered afterwards (IMAP \Answered; Graph has no such flag to set).
 */
export async function readOriginal(
	ctx: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
	sessions: ImapSessions,
	content: 'summary' | 'parsed',
): Promise<{ mailbox: string; fetched: FetchedMessage; markAnswered: () => Promise<void> }> {
	if (connection.transport === 'graph') {
		const id = graphMessageId(ctx, itemIndex);
		const mailbox = await resolveMailbox(
			ctx.getNode(),
			connection,
			ctx.getNodeParameter('mailbox', itemIndex) as string,
			itemIndex,
		);
		const client = graphClientFor(connection, mailbox);
		// The MIME, for Message-ID, References and the original attachments.
		const fetched = await fetchGraphContent(
			client,
			await getGraphMessage(client, id),
			mailbox,
			'',
			'parsed',
		);
		return { mailbox, fetched, markAnswered: async () => undefined };
	}
	const context = await messageContext(ctx, itemIndex, connection);
	const fetched = await withMessage(sessions, context, { readOnly: true }, async (open) =>
		fetchOne(open, context, content),
	);
	return {
		mailbox: context.mailbox,
		fetched,
		markAnswered: async () =>
			await withMessage(sessions, context, { readOnly: false }, async (open) =>
				changeFlags(open, [context.location.uid], { add: ['\\Answered'] }),
			),
	};
}

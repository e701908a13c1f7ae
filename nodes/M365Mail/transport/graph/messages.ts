/**
 * Messages over Microsoft Graph in our message shape: simple from Graph's JSON, full and raw from
 * `$value` through the same MIME parser as IMAP; search, state changes, move and delete.
 */
import { MailServiceError } from '../auth/errors';
import { htmlToPlainText } from '../mime/text';
import { normalizeText } from '../mime/decode';
import { headerText, parseRawMessage, type MessageEnvelope } from '../mime/parse';
import {
	MAX_MESSAGE_BYTES,
	TEXT_LIMIT_BYTES,
	type FetchedMessage,
	type MailAddress,
	type MailMessage,
	type MessageContent,
	type MessageFilters,
} from '../types';
import { listGraphAttachments } from './attachments';
import type { GraphClient } from './client';
import { resolveGraphFolder, type GraphFolder } from './folders';

export interface GraphRecipient {
	emailAddress?: { name?: string; address?: string };
}

/** The Graph message fields we read ($select keeps responses small). */
export interface GraphMessage {
	id: string;
	subject?: string;
	from?: GraphRecipient;
	sender?: GraphRecipient;
	toRecipients?: GraphRecipient[];
	ccRecipients?: GraphRecipient[];
	bccRecipients?: GraphRecipient[];
	replyTo?: GraphRecipient[];
	receivedDateTime?: string;
	sentDateTime?: string;
	internetMessageId?: string;
	isRead?: boolean;
	importance?: 'low' | 'normal' | 'high';
	hasAttachments?: boolean;
	flag?: {
		flagStatus?: string;
		dueDateTime?: { dateTime: string; timeZone?: string };
		completedDateTime?: { dateTime: string; timeZone?: string };
	};
	categories?: string[];
	body?: { contentType?: string; content?: string };
	parentFolderId?: string;
	'@removed'?: unknown;
}

export const MESSAGE_SELECT =
	'id,subject,from,sender,toRecipients,ccRecipients,bccRecipients,replyTo,receivedDateTime,sentDateTime,internetMessageId,isRead,importance,hasAttachments,flag,categories,body,parentFolderId';

/** Graph no longer has the message (deleted meanwhile): gone, not lost. */
export function isGone(error: unknown): boolean {
	return error instanceof MailServiceError && error.code === 'ErrorItemNotFound';
}

function address(r: GraphRecipient | undefined): MailAddress | null {
	if (!r?.emailAddress) return null;
	return { name: r.emailAddress.name ?? '', address: (r.emailAddress.address ?? '').toLowerCase() };
}

export const addresses = (list: GraphRecipient[] | undefined) =>
	(list ?? []).map(address).filter((a): a is MailAddress => a !== null);

/** A body cut to TEXT_LIMIT_BYTES (characters, at most that many bytes of UTF-16 halves kept whole). */
function cutText(text: string | null): string | null {
	if (text === null || Buffer.byteLength(text) <= TEXT_LIMIT_BYTES) return text;
	return Buffer.from(text)
		.subarray(0, TEXT_LIMIT_BYTES)
		.toString('utf8')
		.replace(/\uFFFD$/, '');
}

/** Graph JSON to our simple message (no download beyond the JSON). */
export function messageFromGraph(m: GraphMessage, mailbox: string, folder: string): MailMessage {
	const flagged = m.flag?.flagStatus === 'flagged';
	const html = m.body?.contentType === 'html' ? (m.body.content ?? '') : null;
	const flags = [...(m.isRead ? ['\\Seen'] : []), ...(flagged ? ['\\Flagged'] : [])];
	return {
		id: m.id,
		mailbox,
		folder,
		messageId: m.internetMessageId ?? null,
		subject: headerText(m.subject),
		from: address(m.from),
		sender: address(m.sender),
		to: addresses(m.toRecipients),
		cc: addresses(m.ccRecipients),
		bcc: addresses(m.bccRecipients),
		replyTo: addresses(m.replyTo),
		date: m.sentDateTime ?? null,
		receivedAt: m.receivedDateTime ?? null,
		text: m.body?.contentType === 'html' ? null : cutText(normalizeText(m.body?.content)),
		html: cutText(html),
		...(Buffer.byteLength(m.body?.content ?? '') > TEXT_LIMIT_BYTES ? { truncated: true } : {}),
		isRead: m.isRead === true,
		isFlagged: flagged,
		isAnswered: false,
		flags,
		importance: m.importance ?? 'normal',
		hasAttachments: m.hasAttachments === true,
		attachments: [],
		inReplyTo: null,
		references: [],
		headers: {},
		size: 0,
		...(m.categories?.length ? { categories: m.categories } : {}),
	} as MailMessage;
}

/** Downloads what the output needs: JSON only (simple), or `$value` (raw, or parsed for full/attachments). */
export async function fetchGraphContent(
	client: GraphClient,
	m: SizedMessage,
	mailbox: string,
	folder: string,
	content: MessageContent,
	options: { full?: boolean; keepRaw?: boolean } = {},
): Promise<FetchedMessage> {
	const simple = messageFromGraph(m, mailbox, folder);
	if (content === 'summary') {
		if (simple.text === null && simple.html) simple.text = await htmlToPlainText(simple.html);
		if (m.hasAttachments) simple.attachments = await listGraphAttachments(client, m.id);
		return { message: simple, attachments: [] };
	}
	// Never a whole download of more than Exchange's own limit (the size came with the message).
	const size = sizeOf(m);
	if (size !== undefined && size > MAX_MESSAGE_BYTES) {
		throw new MailServiceError(
			`The message is ${size} bytes, more than the ${MAX_MESSAGE_BYTES / 1024 / 1024} MB this node reads whole`,
			'Use the Simple output (it reads no attachment), or download single attachments with Attachment > Download.',
			'input',
			'MessageTooLarge',
		);
	}
	const raw = await client.request<Buffer>({
		path: `/messages/${encodeURIComponent(m.id)}/$value`,
		binary: true,
	});
	if (content === 'raw') {
		if (m.hasAttachments) simple.attachments = await listGraphAttachments(client, m.id);
		return { message: simple, attachments: [], raw };
	}
	const envelope: MessageEnvelope = {
		id: m.id,
		mailbox,
		folder,
		flags: simple.flags,
		internalDate: m.receivedDateTime,
		size: raw.length,
		subject: m.subject,
	};
	const parsed = await parseRawMessage(raw, envelope, options);
	// Graph owns read/flag state and the received time; MIME gives the rest.
	parsed.message.isRead = simple.isRead;
	parsed.message.isFlagged = simple.isFlagged;
	parsed.message.importance = simple.importance;
	return options.keepRaw ? { ...parsed, raw } : parsed;
}

function matchesAny(list: MailAddress[], wanted: string[] | undefined): boolean {
	if (!wanted?.length) return true;
	return wanted.some((w) =>
		list.some(
			(a) => a.address.includes(w.toLowerCase()) || a.name.toLowerCase().includes(w.toLowerCase()),
		),
	);
}

/** The trigger's filters on a Graph message, with the same Power Automate semantics as IMAP. */
export function graphMatches(m: MailMessage, filters: MessageFilters): boolean {
	if (filters.unreadOnly && m.isRead) return false;
	if (!matchesAny(m.from ? [m.from] : [], filters.from)) return false;
	if (!matchesAny(m.to, filters.to)) return false;
	if (!matchesAny(m.cc, filters.cc)) return false;
	if (!matchesAny([...m.to, ...m.cc], filters.toOrCc)) return false;
	if (
		filters.subjectContains &&
		!m.subject.toLowerCase().includes(filters.subjectContains.toLowerCase())
	)
		return false;
	if (filters.importance && m.importance !== filters.importance) return false;
	if (filters.hasAttachments !== undefined && m.hasAttachments !== filters.hasAttachments)
		return false;
	const received = m.receivedAt ? Date.parse(m.receivedAt) : NaN;
	if (filters.receivedAfter && !(received >= filters.receivedAfter.getTime())) return false;
	if (filters.receivedBefore && !(received < filters.receivedBefore.getTime())) return false;
	return true;
}

/** The newest message matching the filters (unread first): "Fetch Test Event". */
export async function newestGraphMessage(
	client: GraphClient,
	options: {
		folder: string;
		filters: MessageFilters;
		content: MessageContent;
		full?: boolean;
		keepRaw?: boolean;
	},
): Promise<FetchedMessage | undefined> {
	const folder = await resolveGraphFolder(client, options.folder);
	for (const unreadOnly of [true, false]) {
		for await (const page of searchGraphMessages(client, folder, {
			...options.filters,
			unreadOnly,
		})) {
			const match = page.find((m) =>
				graphMatches(messageFromGraph(m, client.mailbox, folder.path), {
					...options.filters,
					unreadOnly,
				}),
			);
			if (match)
				return await fetchGraphContent(
					client,
					match,
					client.mailbox,
					folder.path,
					options.content,
					options,
				);
		}
	}
	return undefined;
}

/**
 * Messages of a folder, newest first, with what Graph can filter on the server pushed there. A text
 * search goes to Graph's `$search` (KQL), which takes neither `$filter` nor `$orderby`: the other
 * filters are then checked on our side (graphMatches), and Graph orders by sent time.
 */
export async function* searchGraphMessages(
	client: GraphClient,
	folder: GraphFolder,
	filters: MessageFilters,
	pageSize = 50,
): AsyncGenerator<GraphMessage[]> {
	if (filters.search) {
		for await (const page of client.pages<GraphMessage>({
			path: `/mailFolders/${encodeURIComponent(folder.id)}/messages`,
			query: {
				$select: MESSAGE_SELECT,
				$top: String(pageSize),
				$search: `"${filters.search.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`,
			},
		})) {
			yield page.value;
		}
		return;
	}
	// Sorted by receivedDateTime: Graph refuses a $filter not led by it (InefficientFilter).
	const since = filters.receivedAfter?.toISOString() ?? '1900-01-01T00:00:00Z';
	const conditions: string[] = [`receivedDateTime ge ${since}`];
	if (filters.receivedBefore)
		conditions.push(`receivedDateTime lt ${filters.receivedBefore.toISOString()}`);
	if (filters.unreadOnly) conditions.push('isRead eq false');
	if (filters.hasAttachments !== undefined)
		conditions.push(`hasAttachments eq ${filters.hasAttachments}`);
	if (filters.importance && ['low', 'normal', 'high'].includes(filters.importance))
		conditions.push(`importance eq '${filters.importance}'`);
	const query: Record<string, string> = {
		$select: MESSAGE_SELECT,
		$top: String(pageSize),
		$orderby: 'receivedDateTime desc',
	};
	if (conditions.length > 1 || filters.receivedAfter) query.$filter = conditions.join(' and ');
	for await (const page of client.pages<GraphMessage>({
		path: `/mailFolders/${encodeURIComponent(folder.id)}/messages`,
		query,
	})) {
		yield page.value;
	}
}

/** PidTagMessageSize: Graph has no size property; Exchange keeps the size as this extended property. */
export const SIZE_EXPAND = "singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')";

export type SizedMessage = GraphMessage & {
	singleValueExtendedProperties?: Array<{ id: string; value: string }>;
};

/** The size Exchange reports for a message read with SIZE_EXPAND, if it came. */
export function sizeOf(m: SizedMessage): number | undefined {
	// Graph writes the id back normalised ("Integer 0xe08").
	const property = m.singleValueExtendedProperties?.find((p) => /^integer\s+0x0*e08$/i.test(p.id));
	const size = Number(property?.value);
	return property && Number.isFinite(size) ? size : undefined;
}

/** One message as the nodes show it, with its size (so a whole download can be refused first). */
export async function getGraphMessage(client: GraphClient, id: string): Promise<SizedMessage> {
	return await client.request<SizedMessage>({
		path: `/messages/${encodeURIComponent(id)}`,
		query: { $select: MESSAGE_SELECT, $expand: SIZE_EXPAND },
	});
}

export async function setGraphRead(
	client: GraphClient,
	id: string,
	isRead: boolean,
): Promise<void> {
	await client.request({
		method: 'PATCH',
		path: `/messages/${encodeURIComponent(id)}`,
		body: { isRead },
	});
}

/** A date as Graph's dateTimeTimeZone, in UTC. */
const graphDate = (date: Date) => ({
	dateTime: date.toISOString().replace(/Z$/, ''),
	timeZone: 'UTC',
});

/**
 * Follow-up flag: flagged (optionally with a due date; Graph needs a start date with it), complete
 * (with the completion time), or cleared.
 */
export async function setGraphFlag(
	client: GraphClient,
	id: string,
	flagStatus: 'flagged' | 'notFlagged' | 'complete',
	options: { dueDate?: Date; startDate?: Date; now?: Date } = {},
): Promise<void> {
	const now = options.now ?? new Date();
	const flag: Record<string, unknown> = { flagStatus };
	if (flagStatus === 'flagged' && options.dueDate) {
		const start = options.startDate ?? now;
		flag.startDateTime = graphDate(start < options.dueDate ? start : options.dueDate);
		flag.dueDateTime = graphDate(options.dueDate);
	}
	if (flagStatus === 'complete') flag.completedDateTime = graphDate(now);
	await client.request({
		method: 'PATCH',
		path: `/messages/${encodeURIComponent(id)}`,
		body: { flag },
	});
}

/** Categories: replaced, or some added or removed (a read first for those). Returns the new list. */
export async function setGraphCategories(
	client: GraphClient,
	id: string,
	categories: string[],
	mode: 'replace' | 'add' | 'remove',
): Promise<string[]> {
	let next = categories;
	if (mode !== 'replace') {
		const current =
			(
				await client.request<{ categories?: string[] }>({
					path: `/messages/${encodeURIComponent(id)}`,
					query: { $select: 'categories' },
				})
			).categories ?? [];
		const wanted = new Set(categories.map((c) => c.toLowerCase()));
		next =
			mode === 'add'
				? [
						...current,
						...categories.filter((c) => !current.some((k) => k.toLowerCase() === c.toLowerCase())),
					]
				: current.filter((c) => !wanted.has(c.toLowerCase()));
	}
	const unique = next.filter(
		(c, i) => next.findIndex((k) => k.toLowerCase() === c.toLowerCase()) === i,
	);
	await client.request({
		method: 'PATCH',
		path: `/messages/${encodeURIComponent(id)}`,
		body: { categories: unique },
	});
	return unique;
}

/** Move or copy; with immutable ids a moved message keeps its id, a copy gets a new one. */
export async function moveGraphMessage(
	client: GraphClient,
	id: string,
	destinationId: string,
	mode: 'move' | 'copy',
): Promise<GraphMessage> {
	return await client.request<GraphMessage>({
		method: 'POST',
		path: `/messages/${encodeURIComponent(id)}/${mode}`,
		body: { destinationId },
		// Moving an already moved message again is harmless; a copy is not repeated.
		idempotent: mode === 'move',
	});
}

export async function deleteGraphMessage(client: GraphClient, id: string): Promise<void> {
	await client.request({ method: 'DELETE', path: `/messages/${encodeURIComponent(id)}` });
}

/**
 * Mail over Microsoft Graph in our message shape: folders by path, messages (simple from Graph's
 * JSON, full and raw from `$value` through the same MIME parser as IMAP), new-mail detection by a
 * per-folder delta query, and the operations of the action node.
 */
import type { FetchedMessage, MessageContent } from '../imap/messages';
import { MailServiceError } from '../auth/errors';
import { attachmentName, safeMimeType } from '../mime/filename';
import { htmlToPlainText } from '../mime/text';
import {
	headerText,
	normalizeText,
	parseRawMessage,
	type AttachmentContent,
	type MessageEnvelope,
} from '../mime/parse';
import {
	MAX_MESSAGE_BYTES,
	TEXT_LIMIT_BYTES,
	type MailAddress,
	type MailMessage,
	type MessageFilters,
} from '../types';
import type { GraphClient } from './client';

export interface GraphFolder {
	id: string;
	path: string;
	name: string;
	wellKnownName?: string;
}

interface GraphRecipient {
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

const WELL_KNOWN = ['inbox', 'sentitems', 'drafts', 'deleteditems', 'junkemail', 'archive'];

const folderCache = new WeakMap<GraphClient, Promise<GraphFolder[]>>();

/** Graph no longer has the message (deleted meanwhile): gone, not lost. */
export function isGone(error: unknown): boolean {
	return error instanceof MailServiceError && error.code === 'ErrorItemNotFound';
}

/** Every folder of the mailbox with its full path ("Inbox/Tech-Support"), well-known ones marked. */
export async function listGraphFolders(client: GraphClient): Promise<GraphFolder[]> {
	const wellKnown = new Map<string, string>();
	for (const name of WELL_KNOWN) {
		try {
			const folder = await client.request<{ id: string }>({
				path: `/mailFolders/${name}`,
				query: { $select: 'id' },
			});
			wellKnown.set(folder.id, name);
		} catch (error) {
			if (!(error instanceof MailServiceError && error.kind === 'notFound')) throw error;
		}
	}
	const result: GraphFolder[] = [];
	const walk = async (path: string, parentPath: string) => {
		for await (const page of client.pages<{
			id: string;
			displayName: string;
			childFolderCount?: number;
		}>({
			path,
			query: { $select: 'id,displayName,childFolderCount', $top: '100' },
		})) {
			for (const f of page.value) {
				const full = parentPath ? `${parentPath}/${f.displayName}` : f.displayName;
				result.push({
					id: f.id,
					path: full,
					name: f.displayName,
					wellKnownName: wellKnown.get(f.id),
				});
				if (f.childFolderCount) await walk(`/mailFolders/${f.id}/childFolders`, full);
			}
		}
	};
	await walk('/mailFolders', '');
	return result.sort((a, b) =>
		a.wellKnownName === 'inbox'
			? -1
			: b.wellKnownName === 'inbox'
				? 1
				: a.path.localeCompare(b.path),
	);
}

function cachedFolders(client: GraphClient): Promise<GraphFolder[]> {
	let folders = folderCache.get(client);
	if (!folders) {
		folders = listGraphFolders(client);
		folderCache.set(client, folders);
		folders.catch(() => folderCache.delete(client));
	}
	return folders;
}

/** A folder by path (case-insensitive), well-known name, or Graph id. */
export async function resolveGraphFolder(
	client: GraphClient,
	wanted: string,
): Promise<GraphFolder> {
	const path = String(wanted ?? '')
		.trim()
		.replace(/^\/+|\/+$/g, '');
	const lower = path.toLowerCase();
	const folders = await cachedFolders(client);
	const found =
		folders.find((f) => f.path.toLowerCase() === lower) ??
		folders.find((f) => f.wellKnownName === lower.replace(/[\s_-]/g, '')) ??
		folders.find((f) => f.id === path);
	if (found) return found;
	throw new MailServiceError(
		`Folder "${path || '(empty)'}" not found in ${client.mailbox || 'the mailbox'}`,
		'Pick the folder from the list, or write its full path with "/" between levels (for example Inbox/Tech-Support).',
		'notFound',
	);
}

/** The path of a folder by its id, from the folder list this client already read. */
export async function graphFolderPath(
	client: GraphClient,
	folderId: string | undefined,
): Promise<string> {
	return (await cachedFolders(client)).find((f) => f.id === folderId)?.path ?? '';
}

export function forgetGraphFolders(client: GraphClient): void {
	folderCache.delete(client);
}

function address(r: GraphRecipient | undefined): MailAddress | null {
	if (!r?.emailAddress) return null;
	return { name: r.emailAddress.name ?? '', address: (r.emailAddress.address ?? '').toLowerCase() };
}

const addresses = (list: GraphRecipient[] | undefined) =>
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

interface GraphAttachmentJson {
	'@odata.type'?: string;
	id: string;
	name?: string;
	contentType?: string;
	size?: number;
	isInline?: boolean;
	contentId?: string;
	contentBytes?: string;
}

const ITEM_ATTACHMENT = '#microsoft.graph.itemAttachment';

/** An attached Outlook item (a forwarded mail) is saved as .eml: its `$value` is MIME. */
function itemName(name: string | undefined, index: number) {
	const named = attachmentName(/\.eml$/i.test(name ?? '') ? name : `${name ?? ''}.eml`, index);
	return name && named.filename !== name
		? { ...named, originalFileName: name.slice(0, 1000) }
		: named;
}

/** A file attachment's name and type, by the same rule as MIME attachments. */
function fileName(name: string | undefined, contentType: string | undefined, index: number) {
	const named = attachmentName(name, index);
	return { ...named, contentType: safeMimeType(contentType, named.filename) };
}

export async function listGraphAttachments(client: GraphClient, id: string) {
	const answer = await client.request<{ value: GraphAttachmentJson[] }>({
		path: `/messages/${encodeURIComponent(id)}/attachments`,
		query: { $select: 'id,name,contentType,size,isInline,contentId' },
	});
	return answer.value.map((a, index) => {
		const item = a['@odata.type'] === ITEM_ATTACHMENT;
		return {
			index,
			...(item
				? { ...itemName(a.name, index), contentType: 'message/rfc822' }
				: fileName(a.name, a.contentType, index)),
			size: a.size ?? 0,
			contentId: a.contentId ?? undefined,
			inline: a.isInline === true,
			graphId: a.id,
			item,
		};
	});
}

export async function downloadGraphAttachment(
	client: GraphClient,
	messageId: string,
	attachmentId: string,
	index: number,
): Promise<AttachmentContent> {
	const path = `/messages/${encodeURIComponent(messageId)}/attachments/${encodeURIComponent(attachmentId)}`;
	// The description, then the bytes from `$value`: never base64 in JSON (2.3 times the file in memory).
	const full = await client.request<GraphAttachmentJson>({
		path,
		query: { $select: 'id,name,contentType,size,isInline,contentId' },
	});
	if ((full.size ?? 0) > MAX_MESSAGE_BYTES) {
		throw new MailServiceError(
			`The attachment is ${full.size} bytes, more than the ${MAX_MESSAGE_BYTES / 1024 / 1024} MB this node downloads`,
			'Open it in Outlook, or share it through OneDrive or SharePoint instead.',
			'input',
			'AttachmentTooLarge',
		);
	}
	const content = await client.request<Buffer>({ path: `${path}/$value`, binary: true });
	if (full['@odata.type'] === ITEM_ATTACHMENT) {
		return {
			index,
			...itemName(full.name, index),
			contentType: 'message/rfc822',
			size: content.length,
			inline: false,
			content,
		};
	}
	return {
		index,
		...fileName(full.name, full.contentType, index),
		size: full.size ?? content.length,
		contentId: full.contentId,
		inline: full.isInline === true,
		content,
	};
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
	const conditions: string[] = [];
	if (filters.unreadOnly) conditions.push('isRead eq false');
	if (filters.receivedAfter)
		conditions.push(`receivedDateTime ge ${filters.receivedAfter.toISOString()}`);
	if (filters.receivedBefore)
		conditions.push(`receivedDateTime lt ${filters.receivedBefore.toISOString()}`);
	if (filters.hasAttachments !== undefined)
		conditions.push(`hasAttachments eq ${filters.hasAttachments}`);
	if (filters.importance && ['low', 'normal', 'high'].includes(filters.importance))
		conditions.push(`importance eq '${filters.importance}'`);
	const query: Record<string, string> = {
		$select: MESSAGE_SELECT,
		$top: String(pageSize),
		$orderby: 'receivedDateTime desc',
	};
	if (conditions.length) query.$filter = conditions.join(' and ');
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

/** Raw MIME up to this size goes in one sendMail request (base64 makes it Graph's 4 MB request limit). */
export const GRAPH_MIME_LIMIT = 3 * 1024 * 1024;
/** Attachments under 3 MB are added in one request; larger ones through an upload session. */
export const GRAPH_ATTACHMENT_POST_LIMIT = 3 * 1024 * 1024;
/** Upload session ranges: ten times 320 KiB, under Graph's 4 MB per PUT. */
export const GRAPH_UPLOAD_CHUNK = 10 * 320 * 1024;

/** Sends composed MIME (base64, as Graph's sendMail takes it); never retried. */
export async function sendGraphMime(client: GraphClient, raw: Buffer): Promise<void> {
	if (raw.length > GRAPH_MIME_LIMIT) {
		throw new MailServiceError(
			`The message is ${(raw.length / 1024 / 1024).toFixed(1)} MB: Graph's sendMail takes up to 3 MB of MIME`,
			'Send it with its attachments added to a draft (sendGraphWithUploads).',
			'input',
		);
	}
	await client.request({
		method: 'POST',
		path: '/sendMail',
		text: raw.toString('base64'),
		idempotent: false,
	});
}

export interface GraphUpload {
	filename: string;
	contentType?: string;
	content: Buffer;
	contentId?: string;
}

/** One attachment on a draft: a single POST under 3 MB, else an upload session in ranges under 4 MB. */
export async function addGraphAttachment(
	client: GraphClient,
	messageId: string,
	attachment: GraphUpload,
): Promise<void> {
	const path = `/messages/${encodeURIComponent(messageId)}/attachments`;
	const common = {
		name: attachment.filename,
		contentType: attachment.contentType ?? 'application/octet-stream',
		isInline: Boolean(attachment.contentId),
		...(attachment.contentId ? { contentId: attachment.contentId } : {}),
	};
	if (attachment.content.length < GRAPH_ATTACHMENT_POST_LIMIT) {
		await client.request({
			method: 'POST',
			path,
			body: {
				'@odata.type': '#microsoft.graph.fileAttachment',
				...common,
				contentBytes: attachment.content.toString('base64'),
			},
			// A repeated POST would attach the file twice.
			idempotent: false,
		});
		return;
	}
	const session = await client.request<{ uploadUrl?: string }>({
		method: 'POST',
		path: `${path}/createUploadSession`,
		body: {
			AttachmentItem: { attachmentType: 'file', ...common, size: attachment.content.length },
		},
		// A second session for the same file is harmless: only a finished one attaches it.
		idempotent: true,
	});
	if (!session.uploadUrl) {
		throw new MailServiceError(
			'Microsoft Graph returned no upload URL for the attachment',
			'Try again; if it persists, send the file as a link.',
			'unknown',
		);
	}
	const total = attachment.content.length;
	for (let start = 0; start < total; start += GRAPH_UPLOAD_CHUNK) {
		const end = Math.min(start + GRAPH_UPLOAD_CHUNK, total);
		await client.request({
			method: 'PUT',
			path: session.uploadUrl,
			bytes: attachment.content.subarray(start, end),
			headers: { 'content-range': `bytes ${start}-${end - 1}/${total}` },
			anonymous: true,
			// The same range again after a dropped connection is what upload sessions are for.
			idempotent: true,
		});
	}
}

/**
 * Mail over 3 MB: the message without its attachments becomes a draft (from MIME, so headers,
 * threading and Bcc are the same as a direct send), the attachments are added one by one, then the
 * draft is sent. A draft that fails before the send is deleted; the send itself is never retried.
 */
export async function sendGraphWithUploads(
	client: GraphClient,
	draftRaw: Buffer,
	attachments: GraphUpload[],
): Promise<void> {
	if (draftRaw.length > GRAPH_MIME_LIMIT) {
		throw new MailServiceError(
			`The message body alone is ${(draftRaw.length / 1024 / 1024).toFixed(1)} MB: Graph takes up to 3 MB without attachments`,
			'Move large content into attachments (they can be up to 150 MB each).',
			'input',
		);
	}
	const draft = await client.request<{ id: string }>({
		method: 'POST',
		path: '/messages',
		text: draftRaw.toString('base64'),
		idempotent: false,
	});
	try {
		for (const attachment of attachments) await addGraphAttachment(client, draft.id, attachment);
	} catch (error) {
		await deleteGraphMessage(client, draft.id).catch(() => undefined);
		throw error;
	}
	await client.request({
		method: 'POST',
		path: `/messages/${encodeURIComponent(draft.id)}/send`,
		idempotent: false,
	});
}

export async function createGraphFolder(
	client: GraphClient,
	path: string,
): Promise<{ folder: GraphFolder; created: boolean }> {
	const parts = path
		.split('/')
		.map((p) => p.trim())
		.filter(Boolean);
	let parentPath = '';
	let parent: GraphFolder | undefined;
	let created = false;
	for (const part of parts) {
		const full = parentPath ? `${parentPath}/${part}` : part;
		const existing = (await cachedFolders(client)).find(
			(f) => f.path.toLowerCase() === full.toLowerCase(),
		);
		if (existing) {
			parent = existing;
		} else {
			const made = await client.request<{ id: string; displayName: string }>({
				method: 'POST',
				path: parent
					? `/mailFolders/${encodeURIComponent(parent.id)}/childFolders`
					: '/mailFolders',
				body: { displayName: part },
				idempotent: false,
			});
			forgetGraphFolders(client);
			parent = { id: made.id, path: full, name: made.displayName };
			created = true;
		}
		parentPath = parent.path;
	}
	if (!parent)
		throw new MailServiceError(
			'The folder path is empty',
			'Enter a path such as Inbox/Customers.',
			'input',
		);
	return { folder: parent, created };
}

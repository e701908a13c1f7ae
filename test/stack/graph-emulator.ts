/**
 * A Microsoft Graph mail emulator for tests, following Graph's documented request and response
 * shapes (typed with @microsoft/microsoft-graph-types): mail folders, messages with immutable ids
 * that survive moves, per-folder delta queries with nextLink/deltaLink and expiring state, `$value`
 * MIME, PATCH/move/copy/delete, sendMail (JSON or MIME) delivering into the recipients' mailboxes,
 * paging, Graph error bodies, bearer tokens checked against the local OAuth2 server (audience Graph),
 * drafts from MIME with attachments added by POST or by upload session (ranges under 4 MB, to an
 * upload URL that carries its own auth), item attachments with `$value`, `$search`, the 4 MB request
 * limit, and switches to inject 429/503 with Retry-After, slow responses and dropped connections.
 * Only the endpoints our transport calls exist.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

import type * as Graph from '@microsoft/microsoft-graph-types';
import { simpleParser, type AddressObject } from 'mailparser';
import MailComposer from 'nodemailer/lib/mail-composer';

import { APPS, DELEGATED_GRANTS, MAILBOXES } from './directory';
import { GraphSubscriptions, SubscriptionError } from './graph-subscriptions';
import type { OAuthTestServer } from './oauth-server';

export const GRAPH_AUDIENCE = 'https://graph.microsoft.com';

const WELL_KNOWN: Array<[string, string]> = [
	['inbox', 'Inbox'],
	['sentitems', 'Sent Items'],
	['drafts', 'Drafts'],
	['deleteditems', 'Deleted Items'],
	['junkemail', 'Junk Email'],
	['archive', 'Archive'],
];

interface StoredFolder {
	id: string;
	displayName: string;
	parentFolderId: string;
	wellKnownName?: string;
}

/** A file attachment (with its bytes), or an attached item (a message, its MIME kept for `$value`). */
type StoredAttachment = (Graph.FileAttachment | Graph.ItemAttachment) & {
	'@odata.type': string;
	itemRaw?: Buffer;
};

interface UploadSession {
	upn: string;
	messageId: string;
	item: Graph.AttachmentItem;
	received: Buffer[];
	offset: number;
}

/** Graph refuses request bodies over 4 MB (sendMail, attachments by POST, upload ranges). */
const REQUEST_LIMIT = 4 * 1024 * 1024;

interface StoredMessage {
	id: string;
	folderId: string;
	raw: Buffer;
	message: Graph.Message;
	attachments: StoredAttachment[];
	/** Change counter value when the message arrived in its folder (created or moved in). */
	arrivedSeq: number;
}

interface MailboxState {
	folders: Map<string, StoredFolder>;
	messages: Map<string, StoredMessage>;
	rootId: string;
}

interface DeltaState {
	folderId: string;
	/** Messages that arrived after this change counter value are new. */
	since: number;
	/** The snapshot a paged round runs up to. */
	until: number;
	/**
	 * Within a paged round, the change counter of the last message sent: the next page starts after
	 * it. Not a position in the folder, which moves when mail leaves the folder between two pages;
	 * Graph's sync state does not lose mail that way.
	 */
	after?: number;
	/** Round number: an expired state is refused. */
	epoch: number;
	/** Where the previous round started: a replay sends its changes again. */
	prevSince?: number;
}

class GraphFailure extends Error {
	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
		readonly headers: Record<string, string> = {},
	) {
		super(message);
	}
}

/** Graph ids look like base64 of a binary entry id; ours are random and stable for an item's life. */
function newId(prefix: string): string {
	return `AAMk${prefix}${randomBytes(24).toString('base64url')}`;
}

function recipients(value: AddressObject | AddressObject[] | undefined): Graph.Recipient[] {
	const list = Array.isArray(value) ? value : value ? [value] : [];
	return list.flatMap((o) =>
		o.value.map((a) => ({ emailAddress: { name: a.name ?? '', address: a.address ?? '' } })),
	);
}

/** A request body; Graph's 4 MB limit, except for the test controls (mail delivered by "Exchange"). */
/** "METHOD /path?query", the query decoded: what injected failures and reversals match. */
function requestLine(req: IncomingMessage, url: URL): string {
	let query = url.search;
	try {
		query = decodeURIComponent(query);
	} catch {
		// a malformed escape: matched as sent
	}
	return `${req.method} ${url.pathname}${query}`;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
	const chunks: Buffer[] = [];
	const limit = String(req.url).startsWith('/_test/') ? 64 * 1024 * 1024 : REQUEST_LIMIT;
	let size = 0;
	for await (const chunk of req) {
		size += (chunk as Buffer).length;
		if (size > limit) {
			throw new GraphFailure(
				413,
				'RequestEntityTooLarge',
				'The request body exceeds the maximum size of 4 MB.',
			);
		}
		chunks.push(chunk as Buffer);
	}
	return Buffer.concat(chunks);
}

/** MIME with its Bcc header kept (what a client hands Graph; Exchange strips it on delivery). */
async function buildKeepingBcc(options: ConstructorParameters<typeof MailComposer>[0]) {
	const node = new MailComposer(options).compile();
	node.keepBcc = true;
	return await node.build();
}

const parseJson = <T>(raw: Buffer): T => {
	try {
		return JSON.parse(raw.toString() || '{}') as T;
	} catch {
		throw new GraphFailure(400, 'BadRequest', 'Invalid JSON in the request body.');
	}
};

export class GraphEmulator {
	private server?: Server;
	port = 0;
	private readonly mailboxes = new Map<string, MailboxState>();
	private seq = 0;
	private inner?: HttpServer;
	private deltaEpoch = 1;
	/** Injected failures for the next requests (or the next ones that match). */
	private failures: Array<{
		status: number;
		retryAfter?: string;
		code: string;
		message: string;
		match?: RegExp;
		/** Matching requests still to be answered as usual before this failure (injectFailures' `after`). */
		pass: number;
	}> = [];
	/** Requests served per "METHOD path-kind", for tests and the benchmark. */
	readonly counts = new Map<string, number>();
	requests = 0;
	/** Bytes on the wire of the HTTPS listener (TLS included), both ways, since start. */
	private readonly sockets = new Set<Socket>();
	private closedBytes = 0;
	delayMs = 0;
	/** Connections to drop (closed without an answer): the next requests, or the next matching ones. */
	private drops: Array<RegExp | undefined> = [];
	/** Messages a user deletes right after a matching request was answered. */
	private vanishes: Array<{ match: RegExp; upn: string; id: string }> = [];
	/**
	 * Listings to answer with the messages of one received time in the other order: Graph does not
	 * document how it orders them, nor that two requests order them alike.
	 */
	private tieReversals: RegExp[] = [];
	/** Delta rounds still to answer with the previous round's changes again (Graph's documented replays). */
	private replays = 0;
	private readonly uploads = new Map<string, UploadSession>();
	/** Change-notification subscriptions, and the notifications they send. */
	readonly subscriptions: GraphSubscriptions;

	constructor(
		private readonly tls: { cert: string; key: string; ca?: string },
		private readonly oauth: OAuthTestServer,
	) {
		for (const upn of MAILBOXES) this.mailbox(upn);
		this.subscriptions = new GraphSubscriptions(tls.ca);
	}

	get url(): string {
		return `https://127.0.0.1:${this.port}`;
	}

	private mailbox(upn: string): MailboxState {
		const key = upn.toLowerCase();
		let state = this.mailboxes.get(key);
		if (!state) {
			const rootId = newId('root');
			state = { folders: new Map(), messages: new Map(), rootId };
			for (const [wellKnownName, displayName] of WELL_KNOWN) {
				const id = newId('fold');
				state.folders.set(id, { id, displayName, parentFolderId: rootId, wellKnownName });
			}
			this.mailboxes.set(key, state);
		}
		return state;
	}

	async start(port = 0): Promise<void> {
		const handler = (req: IncomingMessage, res: ServerResponse) => {
			this.handle(req, res).catch((error: unknown) => {
				if (!res.headersSent) this.sendError(res, error);
				else res.destroy();
			});
		};
		this.server = createServer({ cert: this.tls.cert, key: this.tls.key }, handler);
		this.server.on('connection', (socket: Socket) => {
			this.sockets.add(socket);
			socket.on('close', () => {
				this.closedBytes += socket.bytesWritten + socket.bytesRead;
				this.sockets.delete(socket);
			});
		});
		await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
		this.port = (this.server.address() as AddressInfo).port;
		// The requests inside a $batch run through the same handler on a loopback-only plain listener.
		this.inner = createHttpServer(handler);
		await new Promise<void>((resolve) => this.inner!.listen(0, '127.0.0.1', resolve));
	}

	async stop(): Promise<void> {
		this.subscriptions.stop();
		for (const server of [this.server, this.inner]) {
			server?.closeAllConnections?.();
			await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
		}
	}

	/** Bytes sent and received by the HTTPS listener so far (what a client transferred). */
	get bytes(): number {
		let total = this.closedBytes;
		for (const socket of this.sockets) total += socket.bytesWritten + socket.bytesRead;
		return total;
	}

	// ---- test controls (called in-process, or through /_test/* by tests in another process) ----

	/** Delivers raw MIME into a folder ("inbox", a well-known name, or a display path "Inbox/Sub"). */
	async deliver(
		upn: string,
		raw: Buffer,
		folder = 'inbox',
		receivedDateTime?: string,
	): Promise<string> {
		const box = this.mailbox(upn);
		const target = this.folderByPath(box, folder);
		const parsed = await simpleParser(raw);
		const id = newId('msg');
		const attachments: StoredAttachment[] = [];
		for (const a of parsed.attachments) {
			if (a.contentType === 'message/rfc822') {
				// Exchange stores an attached mail as an item named by its subject.
				const inner = await simpleParser(a.content);
				attachments.push({
					'@odata.type': '#microsoft.graph.itemAttachment',
					id: newId('att'),
					name: inner.subject ?? 'Untitled',
					contentType: 'message/rfc822',
					size: a.size,
					isInline: false,
					itemRaw: a.content,
				});
				continue;
			}
			attachments.push({
				'@odata.type': '#microsoft.graph.fileAttachment',
				id: newId('att'),
				name: a.filename ?? 'attachment',
				contentType: a.contentType,
				size: a.size,
				isInline: a.related === true,
				contentId: a.contentId ?? undefined,
				contentBytes: a.content.toString('base64'),
			});
		}
		const html = typeof parsed.html === 'string' ? parsed.html : undefined;
		const message: Graph.Message = {
			id,
			subject: parsed.subject ?? '',
			from: recipients(parsed.from)[0],
			sender: recipients(parsed.from)[0],
			toRecipients: recipients(parsed.to),
			ccRecipients: recipients(parsed.cc),
			bccRecipients: recipients(parsed.bcc),
			replyTo: recipients(parsed.replyTo),
			receivedDateTime: receivedDateTime ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
			sentDateTime: (parsed.date ?? new Date()).toISOString(),
			internetMessageId: parsed.messageId,
			isRead: false,
			isDraft: false,
			importance: 'normal',
			hasAttachments: attachments.some((a) => !a.isInline),
			flag: { flagStatus: 'notFlagged' },
			categories: [],
			body: html
				? { contentType: 'html', content: html }
				: { contentType: 'text', content: parsed.text ?? '' },
			bodyPreview: (parsed.text ?? '').slice(0, 255),
			parentFolderId: target.id,
			conversationId: newId('conv'),
		};
		const priority = parsed.headers.get('priority');
		if (priority === 'high' || priority === 'low') message.importance = priority;
		box.messages.set(id, {
			id,
			folderId: target.id,
			raw,
			message,
			attachments,
			arrivedSeq: ++this.seq,
		});
		this.subscriptions.messageCreated(upn, target.id, id);
		return id;
	}

	/** Moves a message as an inbox rule would (same id, keeps its receivedDateTime). */
	moveByRule(upn: string, id: string, folder: string): void {
		const box = this.mailbox(upn);
		const stored = box.messages.get(id);
		if (!stored) throw new Error(`no message ${id}`);
		const target = this.folderByPath(box, folder);
		stored.folderId = target.id;
		stored.message.parentFolderId = target.id;
		stored.arrivedSeq = ++this.seq;
		this.subscriptions.messageCreated(upn, target.id, id);
	}

	createFolderPath(upn: string, path: string): string {
		const box = this.mailbox(upn);
		let parent = box.rootId;
		let current: StoredFolder | undefined;
		for (const name of path.split('/')) {
			current = [...box.folders.values()].find(
				(f) => f.parentFolderId === parent && f.displayName.toLowerCase() === name.toLowerCase(),
			);
			if (!current) {
				const id = newId('fold');
				current = { id, displayName: name, parentFolderId: parent };
				box.folders.set(id, current);
			}
			parent = current.id;
		}
		return current!.id;
	}

	/**
	 * The next `count` requests (or the next ones whose "METHOD /path?query", query decoded, matches)
	 * answer `status`, with Retry-After (seconds or an HTTP date) when given; with `after`, once that
	 * many more have been answered as usual (requests inside a $batch count, each on its own).
	 */
	injectFailures(
		status: number,
		count: number,
		retryAfter?: string,
		match?: string,
		after = 0,
	): void {
		const throttled = status === 429 || status === 503;
		for (let i = 0; i < count; i++) {
			this.failures.push({
				pass: i === 0 ? after : 0,
				status,
				retryAfter,
				code:
					status === 429 ? 'TooManyRequests' : throttled ? 'ServiceUnavailable' : 'UnknownError',
				message: throttled
					? 'Application is over its MailboxConcurrency limit.'
					: 'The operation timed out.',
				match: match ? new RegExp(match) : undefined,
			});
		}
	}

	/**
	 * The next `count` requests (or the next ones whose "METHOD /path" matches) lose their connection
	 * before any answer: the server did nothing with them.
	 */
	dropConnections(count: number, match?: string): void {
		for (let i = 0; i < count; i++) this.drops.push(match ? new RegExp(match) : undefined);
	}

	/**
	 * Once the next request whose "METHOD /path" matches has been answered, the message is deleted
	 * for good (as a user's Shift+Delete): a race between a delta page and the download after it.
	 */
	vanishAfter(match: string, upn: string, id: string): void {
		this.vanishes.push({ match: new RegExp(match), upn, id });
	}

	/**
	 * The next `count` message listings whose "METHOD /path?query" (query decoded) matches order the
	 * messages of one received time newest arrived first where they would come oldest first, and
	 * the other way round.
	 */
	reverseTies(count: number, match: string): void {
		for (let i = 0; i < count; i++) this.tieReversals.push(new RegExp(match));
	}

	/** A stored message's MIME as recipients got it. */
	raw(upn: string, id: string): Buffer {
		return this.messageById(this.mailbox(upn), id).raw;
	}

	/** Deletes a folder with its messages and creates it again under the same path: a new id. */
	recreateFolder(upn: string, path: string): string {
		const box = this.mailbox(upn);
		const old = this.folderByPath(box, path);
		box.folders.delete(old.id);
		for (const [id, m] of box.messages) if (m.folderId === old.id) box.messages.delete(id);
		return this.createFolderPath(upn, path);
	}

	/** Every delta state issued so far answers 410 syncStateNotFound. */
	expireDeltaStates(): void {
		this.deltaEpoch++;
	}

	list(upn: string, folder: string): Graph.Message[] {
		const box = this.mailbox(upn);
		const target = this.folderByPath(box, folder);
		return [...box.messages.values()]
			.filter((m) => m.folderId === target.id)
			.sort((a, b) => a.arrivedSeq - b.arrivedSeq)
			.map((m) => m.message);
	}

	// ---- HTTP ----

	/** Message bodies sent (`bodies`), by message and by listing, in or out of a batch. */
	private countBodies(url: URL, messages: number): void {
		const fields = url.searchParams.get('$select');
		if (!fields || fields.split(',').includes('body'))
			this.counts.set('bodies', (this.counts.get('bodies') ?? 0) + messages);
	}

	private count(key: string): void {
		this.requests++;
		this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
	}

	private sendJson(
		res: ServerResponse,
		status: number,
		body: unknown,
		headers: Record<string, string> = {},
	): void {
		res.writeHead(status, {
			'content-type': 'application/json; odata.metadata=minimal',
			...headers,
		});
		res.end(body === undefined ? undefined : JSON.stringify(body));
	}

	private sendError(res: ServerResponse, error: unknown): void {
		const failure =
			error instanceof GraphFailure
				? error
				: new GraphFailure(500, 'generalException', (error as Error).message ?? 'error');
		this.sendJson(
			res,
			failure.status,
			{
				error: {
					code: failure.code,
					message: failure.message,
					innerError: {
						date: new Date().toISOString(),
						'request-id': randomBytes(8).toString('hex'),
					},
				},
			},
			failure.headers,
		);
	}

	private async authorize(req: IncomingMessage, mailboxSegment: string): Promise<string> {
		const header = req.headers.authorization ?? '';
		if (!header.startsWith('Bearer ')) {
			throw new GraphFailure(401, 'InvalidAuthenticationToken', 'Access token is empty.');
		}
		let claims: Record<string, unknown>;
		try {
			// A custom cloud asks for tokens of its own Graph URL; the global one for graph.microsoft.com.
			claims = await this.oauth.verify(header.slice(7), [GRAPH_AUDIENCE, this.url]);
		} catch (error) {
			const expired = /"exp" claim/.test((error as Error).message);
			throw new GraphFailure(
				401,
				'InvalidAuthenticationToken',
				expired
					? 'Lifetime validation failed, the token is expired.'
					: 'Access token validation failure. Invalid audience.',
			);
		}
		const upn = typeof claims.upn === 'string' ? claims.upn.toLowerCase() : undefined;
		const target = mailboxSegment === 'me' ? upn : decodeURIComponent(mailboxSegment).toLowerCase();
		if (!target)
			throw new GraphFailure(
				400,
				'BadRequest',
				'/me request is only valid with delegated authentication flow.',
			);
		if (!(MAILBOXES as readonly string[]).includes(target)) {
			throw new GraphFailure(404, 'ErrorInvalidUser', `The requested user '${target}' is invalid.`);
		}
		if (upn) {
			const scp = String(claims.scp ?? '').split(' ');
			if (!scp.some((s) => /^Mail\.(Read|ReadWrite)/.test(s))) {
				throw new GraphFailure(
					403,
					'ErrorAccessDenied',
					'Access is denied. Check credentials and try again.',
				);
			}
			const granted = target === upn || (DELEGATED_GRANTS[target] ?? []).includes(upn);
			if (!granted || (target !== upn && !scp.some((s) => s.endsWith('.Shared')))) {
				throw new GraphFailure(
					403,
					'ErrorAccessDenied',
					'Access is denied. Check credentials and try again.',
				);
			}
			return target;
		}
		const roles = Array.isArray(claims.roles) ? (claims.roles as string[]) : [];
		const app = Object.values(APPS).find((a) => a.clientId === claims.appid);
		if (!app || !roles.some((r) => /^Mail\./.test(r))) {
			throw new GraphFailure(
				403,
				'ErrorAccessDenied',
				'Access is denied. Check credentials and try again.',
			);
		}
		return target;
	}

	private folderByPath(box: MailboxState, path: string): StoredFolder {
		const wanted = path.toLowerCase();
		const known = [...box.folders.values()].find((f) => f.wellKnownName === wanted);
		if (known) return known;
		let parent = box.rootId;
		let current: StoredFolder | undefined;
		for (const name of path.split('/')) {
			current = [...box.folders.values()].find(
				(f) => f.parentFolderId === parent && f.displayName.toLowerCase() === name.toLowerCase(),
			);
			if (!current)
				throw new GraphFailure(
					404,
					'ErrorItemNotFound',
					'The specified object was not found in the store.',
				);
			parent = current.id;
		}
		return current!;
	}

	/** Graph refuses a second folder of the same name (any case) under one parent. */
	private refuseFolderClash(
		box: MailboxState,
		parentId: string,
		name: string,
		except?: StoredFolder,
	): void {
		const clash = [...box.folders.values()].some(
			(f) =>
				f !== except &&
				f.parentFolderId === parentId &&
				f.displayName.toLowerCase() === name.toLowerCase(),
		);
		if (clash)
			throw new GraphFailure(
				409,
				'ErrorFolderExists',
				'A folder with the specified name already exists.',
			);
	}

	private folderById(box: MailboxState, id: string): StoredFolder {
		const folder =
			box.folders.get(id) ??
			[...box.folders.values()].find((f) => f.wellKnownName === id.toLowerCase());
		if (folder) return folder;
		if (!/^AAMk/.test(id))
			throw new GraphFailure(400, 'ErrorInvalidIdMalformed', 'Id is malformed.');
		throw new GraphFailure(
			404,
			'ErrorItemNotFound',
			'The specified object was not found in the store.',
		);
	}

	private messageById(box: MailboxState, id: string): StoredMessage {
		const stored = box.messages.get(id);
		if (stored) return stored;
		if (!/^AAMk/.test(id))
			throw new GraphFailure(400, 'ErrorInvalidIdMalformed', 'Id is malformed.');
		throw new GraphFailure(
			404,
			'ErrorItemNotFound',
			'The specified object was not found in the store.',
		);
	}

	private folderJson(box: MailboxState, f: StoredFolder): Graph.MailFolder {
		const messages = [...box.messages.values()].filter((m) => m.folderId === f.id);
		return {
			id: f.id,
			displayName: f.displayName,
			parentFolderId: f.parentFolderId,
			childFolderCount: [...box.folders.values()].filter((c) => c.parentFolderId === f.id).length,
			totalItemCount: messages.length,
			unreadItemCount: messages.filter((m) => !m.message.isRead).length,
			isHidden: false,
		};
	}

	private select(message: Graph.Message, query: URLSearchParams): Graph.Message {
		const fields = query.get('$select');
		if (!fields) return message;
		const picked: Record<string, unknown> = { id: message.id };
		for (const field of fields.split(',')) {
			const key = field.trim() as keyof Graph.Message;
			if (message[key] !== undefined) picked[key] = message[key];
		}
		return picked as Graph.Message;
	}

	/**
	 * `$expand=singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')`: PidTagMessageSize, the
	 * size Exchange reports, as Graph writes it (id normalised, value a string).
	 */
	private withSize(stored: StoredMessage, json: Graph.Message, query: URLSearchParams) {
		const expand = query.get('$expand') ?? '';
		if (!/singleValueExtendedProperties\(\$filter=id eq 'Integer 0x0E08'\)/i.test(expand))
			return json;
		return {
			...json,
			singleValueExtendedProperties: [{ id: 'Integer 0xe08', value: String(stored.raw.length) }],
		};
	}

	/**
	 * JSON batching as Graph documents it: up to 20 requests, each answered on its own (status, headers,
	 * body) under the batch's 200. The requests run against this emulator with the batch's own
	 * Authorization, so every rule (ids, throttling, deleted messages) applies to each.
	 */
	private async batch(req: IncomingMessage, res: ServerResponse): Promise<void> {
		this.count('POST /$batch');
		const body = parseJson<{
			requests?: Array<{
				id: string;
				method: string;
				url: string;
				headers?: Record<string, string>;
				body?: unknown;
			}>;
		}>(await readBody(req));
		const requests = body.requests ?? [];
		if (!requests.length || requests.length > 20)
			throw new GraphFailure(400, 'BadRequest', 'A batch holds between 1 and 20 requests.');
		// Graph: a request with a body must say its Content-Type in its own headers.
		const typed = (r: (typeof requests)[number]) =>
			Object.keys(r.headers ?? {}).some((h) => h.toLowerCase() === 'content-type');
		if (requests.some((r) => r.body !== undefined && !typed(r)))
			throw new GraphFailure(
				400,
				'BadRequest',
				'Content-Type header must be specified when a request in a batch has a body.',
			);
		const responses = [];
		for (const r of requests) {
			const inner = `http://127.0.0.1:${(this.inner!.address() as AddressInfo).port}`;
			const answer = await fetch(`${inner}/v1.0${r.url}`, {
				method: r.method,
				headers: {
					...(r.headers ?? {}),
					authorization: String(req.headers.authorization ?? ''),
					'x-emulator-batched': '1',
				},
				body: r.body === undefined ? undefined : JSON.stringify(r.body),
			});
			const text = await answer.text();
			const headers: Record<string, string> = {};
			const retryAfter = answer.headers.get('retry-after');
			if (retryAfter) headers['Retry-After'] = retryAfter;
			responses.push({
				id: r.id,
				status: answer.status,
				headers,
				body: text ? JSON.parse(text) : undefined,
			});
		}
		this.sendJson(res, 200, { responses });
	}

	private pageSize(req: IncomingMessage, fallback: number): number {
		const match = /odata\.maxpagesize=(\d+)/.exec(String(req.headers.prefer ?? ''));
		return match ? Math.min(Number(match[1]), 1000) : fallback;
	}

	private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const url = new URL(req.url ?? '/', this.url);
		if (url.pathname.startsWith('/_test/')) return await this.control(req, res, url);
		const drop = this.drops.findIndex((m) => !m || m.test(`${req.method} ${url.pathname}`));
		if (drop >= 0) {
			this.drops.splice(drop, 1);
			this.count('DROPPED');
			req.socket.destroy();
			return;
		}
		const vanish = this.vanishes.findIndex((v) => v.match.test(`${req.method} ${url.pathname}`));
		if (vanish >= 0) {
			const { upn, id } = this.vanishes.splice(vanish, 1)[0];
			res.once('finish', () => this.mailbox(upn).messages.delete(id));
		}
		if (url.pathname.startsWith('/upload/')) return await this.uploadRange(req, res, url);
		if (url.pathname === '/v1.0/$batch' && req.method === 'POST') return await this.batch(req, res);
		if (/^\/v1\.0\/subscriptions(\/|$)/.test(url.pathname))
			return await this.subscription(req, res, url);
		const match = /^\/v1\.0\/(me|users\/([^/]+))(\/.*)?$/.exec(url.pathname);
		if (!match)
			throw new GraphFailure(
				400,
				'BadRequest',
				`Resource not found for the segment '${url.pathname}'.`,
			);
		const rest = match[3] ?? '';
		const kind = `${req.method} ${rest.replace(/AAMk[\w-]+/g, '{id}').replace(/\/users\/[^/]+/, '')}`;
		// A request inside a $batch is no HTTP request of the client's: counted by kind only.
		if (req.headers['x-emulator-batched'])
			this.counts.set(`batched ${kind}`, (this.counts.get(`batched ${kind}`) ?? 0) + 1);
		else this.count(kind);
		if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
		const line = requestLine(req, url);
		const failing = this.failures.findIndex((f) => !f.match || f.match.test(line));
		if (failing >= 0 && this.failures[failing].pass > 0) this.failures[failing].pass--;
		else if (failing >= 0) {
			const [failure] = this.failures.splice(failing, 1);
			// Not a request served: counted by kind only (graphCounts' "FAILED").
			this.counts.set('FAILED', (this.counts.get('FAILED') ?? 0) + 1);
			const headers: Record<string, string> = {};
			if (failure.retryAfter !== undefined) headers['retry-after'] = failure.retryAfter;
			throw new GraphFailure(failure.status, failure.code, failure.message, headers);
		}
		const upn = await this.authorize(req, match[2] ?? 'me');
		const box = this.mailbox(upn);
		const base = `${this.url}/v1.0/${match[1]}`;
		const segments = rest.split('/').filter(Boolean);

		// GET /mailFolders, /mailFolders/{id}, /mailFolders/{id}/childFolders
		if (segments[0] === 'mailFolders') {
			if (req.method === 'GET' && segments.length === 1) {
				const top = [...box.folders.values()].filter((f) => f.parentFolderId === box.rootId);
				return this.sendJson(res, 200, { value: top.map((f) => this.folderJson(box, f)) });
			}
			const folder = segments[1] ? this.folderById(box, segments[1]) : undefined;
			if (folder && req.method === 'GET' && segments.length === 2) {
				return this.sendJson(res, 200, this.folderJson(box, folder));
			}
			if (folder && segments.length === 2 && req.method === 'PATCH') {
				const body = parseJson<Graph.MailFolder>(await readBody(req));
				if (typeof body.displayName === 'string') {
					this.refuseFolderClash(box, folder.parentFolderId, body.displayName, folder);
					folder.displayName = body.displayName;
				}
				return this.sendJson(res, 200, this.folderJson(box, folder));
			}
			// Graph's folder move (201 with the folder) and permanentDelete (204, its subtree and mail).
			if (folder && segments.length === 3 && req.method === 'POST') {
				if (segments[2] === 'move' || segments[2] === 'permanentDelete') {
					if (folder.wellKnownName)
						throw new GraphFailure(
							400,
							segments[2] === 'move'
								? 'ErrorMoveDistinguishedFolder'
								: 'ErrorDeleteDistinguishedFolder',
							segments[2] === 'move'
								? 'Distinguished folders cannot be moved.'
								: 'Distinguished folders cannot be deleted.',
						);
				}
				if (segments[2] === 'move') {
					const body = parseJson<{ destinationId?: string }>(await readBody(req));
					// msgfolderroot: the top of the mailbox, where Inbox and the other top folders are.
					const rootWanted = String(body.destinationId ?? '').toLowerCase() === 'msgfolderroot';
					const to = rootWanted
						? undefined
						: this.folderById(box, String(body.destinationId ?? ''));
					// Not into itself or its own subtree (the store would lose the folder in a cycle).
					for (let at: StoredFolder | undefined = to; at; at = box.folders.get(at.parentFolderId))
						if (at.id === folder.id)
							throw new GraphFailure(
								400,
								'ErrorMoveCopyFailed',
								'The move or copy operation failed.',
							);
					const parentId = to?.id ?? box.rootId;
					this.refuseFolderClash(box, parentId, folder.displayName, folder);
					folder.parentFolderId = parentId;
					return this.sendJson(res, 201, this.folderJson(box, folder));
				}
				if (segments[2] === 'permanentDelete') {
					const doomed = new Set([folder.id]);
					let before = 0;
					while (doomed.size > before) {
						before = doomed.size;
						for (const f of box.folders.values())
							if (doomed.has(f.parentFolderId)) doomed.add(f.id);
					}
					for (const id of doomed) box.folders.delete(id);
					for (const [id, m] of box.messages) if (doomed.has(m.folderId)) box.messages.delete(id);
					res.writeHead(204).end();
					return;
				}
			}
			if (folder && segments[2] === 'childFolders') {
				if (req.method === 'POST') {
					const body = JSON.parse((await readBody(req)).toString() || '{}') as Graph.MailFolder;
					const exists = [...box.folders.values()].some(
						(f) =>
							f.parentFolderId === folder.id &&
							f.displayName.toLowerCase() === String(body.displayName).toLowerCase(),
					);
					if (exists)
						throw new GraphFailure(
							409,
							'ErrorFolderExists',
							'A folder with the specified name already exists.',
						);
					const id = newId('fold');
					const created = { id, displayName: String(body.displayName), parentFolderId: folder.id };
					box.folders.set(id, created);
					return this.sendJson(res, 201, this.folderJson(box, created));
				}
				const children = [...box.folders.values()].filter((f) => f.parentFolderId === folder.id);
				return this.sendJson(res, 200, { value: children.map((f) => this.folderJson(box, f)) });
			}
			if (folder && segments[2] === 'messages' && segments[3] === 'delta') {
				return this.delta(req, res, url, box, folder, base);
			}
			if (folder && segments[2] === 'messages' && req.method === 'GET') {
				return this.listMessages(req, res, url, box, folder, base);
			}
		}

		if (segments[0] === 'sendMail' && req.method === 'POST')
			return await this.sendMail(req, res, upn);

		// A draft from MIME (text/plain, base64), as Graph's "create message in MIME format".
		if (segments[0] === 'messages' && !segments[1] && req.method === 'POST') {
			if (!String(req.headers['content-type']).startsWith('text/plain'))
				throw new GraphFailure(400, 'BadRequest', 'Only MIME drafts are emulated.');
			const mime = Buffer.from((await readBody(req)).toString(), 'base64');
			const id = await this.deliver(upn, mime, 'drafts');
			const draft = box.messages.get(id)!;
			draft.message.isDraft = true;
			draft.message.isRead = true;
			return this.sendJson(res, 201, draft.message);
		}

		if (segments[0] === 'messages' && segments[1]) {
			const stored = this.messageById(box, segments[1]);
			const action = segments[2];
			if (!action && req.method === 'GET') {
				this.countBodies(url, 1);
				return this.sendJson(
					res,
					200,
					this.withSize(stored, this.select(stored.message, url.searchParams), url.searchParams),
				);
			}
			if (action === '$value' && req.method === 'GET') {
				res.writeHead(200, { 'content-type': 'text/plain' });
				res.end(stored.raw);
				return;
			}
			if (!action && req.method === 'PATCH') {
				const patch = parseJson<Graph.Message>(await readBody(req));
				if (patch.flag?.dueDateTime && !patch.flag.startDateTime) {
					throw new GraphFailure(
						400,
						'ErrorInvalidRequest',
						'StartDateTime must be set when DueDateTime is set.',
					);
				}
				if (
					patch.categories !== undefined &&
					(!Array.isArray(patch.categories) || patch.categories.some((c) => typeof c !== 'string'))
				) {
					throw new GraphFailure(400, 'BadRequest', 'categories must be a string collection.');
				}
				for (const key of ['isRead', 'flag', 'categories'] as const) {
					if (patch[key] !== undefined)
						(stored.message as Record<string, unknown>)[key] = patch[key];
				}
				return this.sendJson(res, 200, stored.message);
			}
			if (!action && req.method === 'DELETE') {
				box.messages.delete(stored.id);
				res.writeHead(204);
				res.end();
				return;
			}
			if ((action === 'move' || action === 'copy') && req.method === 'POST') {
				const body = JSON.parse((await readBody(req)).toString() || '{}') as {
					destinationId?: string;
				};
				const destination = this.folderById(box, String(body.destinationId ?? ''));
				if (action === 'move') {
					// Immutable ids: the id stays the same across the move.
					stored.folderId = destination.id;
					stored.message.parentFolderId = destination.id;
					stored.arrivedSeq = ++this.seq;
					this.subscriptions.messageCreated(upn, destination.id, stored.id);
					return this.sendJson(res, 201, stored.message);
				}
				const id = newId('msg');
				const copy: StoredMessage = {
					...stored,
					id,
					folderId: destination.id,
					message: { ...stored.message, id, parentFolderId: destination.id },
					arrivedSeq: ++this.seq,
				};
				box.messages.set(id, copy);
				this.subscriptions.messageCreated(upn, destination.id, id);
				return this.sendJson(res, 201, copy.message);
			}
			if (action === 'send' && req.method === 'POST') {
				if (!stored.message.isDraft)
					throw new GraphFailure(400, 'ErrorInvalidOperation', 'Only drafts can be sent.');
				return await this.sendDraft(res, upn, stored);
			}
			if (action === 'attachments' && req.method === 'POST' && !segments[3]) {
				const body = parseJson<Graph.FileAttachment & { '@odata.type'?: string }>(
					await readBody(req),
				);
				if (body['@odata.type'] !== '#microsoft.graph.fileAttachment' || !body.name)
					throw new GraphFailure(400, 'BadRequest', 'A fileAttachment with a name is required.');
				const content = Buffer.from(body.contentBytes ?? '', 'base64');
				const attachment: StoredAttachment = {
					...body,
					'@odata.type': '#microsoft.graph.fileAttachment',
					id: newId('att'),
					size: content.length,
				};
				stored.attachments.push(attachment);
				stored.message.hasAttachments = stored.attachments.some((a) => !a.isInline);
				return this.sendJson(res, 201, { ...attachment, contentBytes: undefined });
			}
			if (
				action === 'attachments' &&
				segments[3] === 'createUploadSession' &&
				req.method === 'POST'
			) {
				const body = parseJson<{ AttachmentItem?: Graph.AttachmentItem }>(await readBody(req));
				const item = body.AttachmentItem;
				if (!item?.name || !item.size || item.attachmentType !== 'file')
					throw new GraphFailure(
						400,
						'ErrorInvalidRequest',
						'AttachmentItem needs attachmentType file, a name and a size.',
					);
				if (item.size > 150 * 1024 * 1024)
					throw new GraphFailure(
						400,
						'ErrorAttachmentSizeShouldNotBeLessThanMinimumSize',
						'Attachment size is over the 150 MB limit.',
					);
				const token = randomBytes(16).toString('hex');
				this.uploads.set(token, {
					upn,
					messageId: stored.id,
					item,
					received: [],
					offset: 0,
				});
				return this.sendJson(res, 201, {
					uploadUrl: `${this.url}/upload/${token}?authtoken=${randomBytes(12).toString('hex')}`,
					expirationDateTime: new Date(Date.now() + 15 * 60_000).toISOString(),
					nextExpectedRanges: ['0-'],
				} satisfies Graph.UploadSession);
			}
			if (action === 'attachments' && req.method === 'GET') {
				if (segments[3]) {
					const attachment = stored.attachments.find((a) => a.id === segments[3]);
					if (!attachment)
						throw new GraphFailure(
							404,
							'ErrorItemNotFound',
							'The specified object was not found in the store.',
						);
					if (segments[4] === '$value') {
						res.writeHead(200, { 'content-type': 'text/plain' });
						res.end(
							attachment.itemRaw ??
								Buffer.from((attachment as Graph.FileAttachment).contentBytes ?? '', 'base64'),
						);
						return;
					}
					return this.sendJson(
						res,
						200,
						this.attachmentJson(attachment, url.searchParams.has('$select')),
					);
				}
				return this.sendJson(res, 200, {
					value: stored.attachments.map((a) => this.attachmentJson(a, true)),
				});
			}
		}
		throw new GraphFailure(400, 'BadRequest', `Unsupported request ${req.method} ${rest}`);
	}

	private listMessages(
		req: IncomingMessage,
		res: ServerResponse,
		url: URL,
		box: MailboxState,
		folder: StoredFolder,
		base: string,
	): void {
		let list = [...box.messages.values()].filter((m) => m.folderId === folder.id);
		const filter = url.searchParams.get('$filter') ?? '';
		const search = url.searchParams.get('$search');
		if (search !== null) {
			if (filter || url.searchParams.has('$orderby'))
				throw new GraphFailure(
					400,
					'ErrorInvalidUrlQuery',
					'The query parameter $search cannot be combined with $filter or $orderby on messages.',
				);
			const words = search.replace(/^"|"$/g, '').toLowerCase().split(/\s+/).filter(Boolean);
			const text = (m: Graph.Message) =>
				[
					m.subject,
					m.body?.content,
					m.from?.emailAddress?.address,
					m.from?.emailAddress?.name,
					...(m.toRecipients ?? []).map((r) => r.emailAddress?.address),
				]
					.join(' ')
					.toLowerCase();
			// Every word must occur (KQL's implicit AND); results newest sent first.
			list = list
				.filter((m) => words.every((w) => text(m.message).includes(w)))
				.sort((a, b) =>
					String(b.message.sentDateTime).localeCompare(String(a.message.sentDateTime)),
				);
		}
		// Graph refuses $orderby with a $filter unless each sorted property is filtered on, in the same
		// order, before any other ("Update to Filtering and Sorting in the Mail, Calendar and Contacts
		// REST API", Microsoft Graph team).
		const orderby = (url.searchParams.get('$orderby') ?? '')
			.split(',')
			.map((o) => o.trim().split(/\s+/))
			.filter(([field]) => field);
		if (orderby.length && filter) {
			const clauses = filter
				.split(/\s+and\s+/i)
				.map((c) => c.trim().replace(/^\(+/, '').split(/\s+/)[0]);
			const distinct = clauses.filter((c, i) => clauses.indexOf(c) === i);
			if (!orderby.every(([field], i) => distinct[i] === field))
				throw new GraphFailure(
					400,
					'InefficientFilter',
					'The restriction or sort order is too complex for this operation.',
				);
		}
		if (/isRead eq false/.test(filter)) list = list.filter((m) => !m.message.isRead);
		// internetMessageId eq '<...>', an OData string ('' for a quote): every copy in the folder.
		const byMessageId = /internetMessageId eq '((?:[^']|'')*)'/.exec(filter);
		if (byMessageId) {
			const wanted = byMessageId[1].replace(/''/g, "'");
			list = list.filter((m) => m.message.internetMessageId === wanted);
		}
		const time = (m: StoredMessage) => Date.parse(String(m.message.receivedDateTime));
		const ge = /receivedDateTime ge ([0-9TZ:.-]+)/.exec(filter);
		if (ge) list = list.filter((m) => time(m) >= Date.parse(ge[1]));
		const lt = /receivedDateTime lt ([0-9TZ:.-]+)/.exec(filter);
		if (lt) list = list.filter((m) => time(m) < Date.parse(lt[1]));
		// Newest first unless `$orderby=receivedDateTime asc`.
		const ascending = orderby.some(([field, way]) => field === 'receivedDateTime' && way === 'asc');
		const line = requestLine(req, url);
		const reversal = this.tieReversals.findIndex((m) => m.test(line));
		const ties = reversal >= 0 ? -1 : 1;
		if (reversal >= 0) this.tieReversals.splice(reversal, 1);
		if (search === null)
			list.sort(
				(a, b) =>
					(String(b.message.receivedDateTime).localeCompare(String(a.message.receivedDateTime)) ||
						(b.arrivedSeq - a.arrivedSeq) * ties) * (ascending ? -1 : 1),
			);
		const top = Number(url.searchParams.get('$top') ?? 10);
		const skip = Number(url.searchParams.get('$skip') ?? 0);
		const page = list.slice(skip, skip + top);
		this.countBodies(url, page.length);
		const body: Record<string, unknown> = {
			value: page.map((m) =>
				this.withSize(m, this.select(m.message, url.searchParams), url.searchParams),
			),
		};
		if (skip + top < list.length) {
			const next = new URL(`${base}/mailFolders/${folder.id}/messages`);
			url.searchParams.forEach((v, k) => next.searchParams.set(k, v));
			next.searchParams.set('$skip', String(skip + top));
			body['@odata.nextLink'] = next.toString();
		}
		this.sendJson(res, 200, body);
	}

	private delta(
		req: IncomingMessage,
		res: ServerResponse,
		url: URL,
		box: MailboxState,
		folder: StoredFolder,
		base: string,
	): void {
		const token = url.searchParams.get('$deltatoken') ?? url.searchParams.get('$skiptoken');
		let state: DeltaState;
		if (token) {
			try {
				state = JSON.parse(Buffer.from(token, 'base64url').toString()) as DeltaState;
			} catch {
				throw new GraphFailure(400, 'InvalidSyncStateData', 'The sync state data is invalid.');
			}
			if (state.epoch !== this.deltaEpoch) {
				throw new GraphFailure(410, 'syncStateNotFound', 'The sync state generation is not found.');
			}
			if (url.searchParams.has('$deltatoken')) {
				const since = this.replays > 0 ? (state.prevSince ?? state.since) : state.since;
				if (this.replays > 0) this.replays--;
				state = { ...state, since, until: this.seq, after: undefined };
			}
		} else {
			state = { folderId: folder.id, since: 0, until: this.seq, epoch: this.deltaEpoch };
		}
		const from = state.after ?? state.since;
		const changed = [...box.messages.values()]
			.filter((m) => m.folderId === folder.id && m.arrivedSeq > from && m.arrivedSeq <= state.until)
			.sort((a, b) => a.arrivedSeq - b.arrivedSeq);
		const size = this.pageSize(req, 10);
		const page = changed.slice(0, size);
		const body: Record<string, unknown> = {
			value: page.map((m) => this.select(m.message, url.searchParams)),
		};
		const link = (key: string, next: DeltaState) => {
			const l = new URL(`${base}/mailFolders/${folder.id}/messages/delta`);
			l.searchParams.set(key, Buffer.from(JSON.stringify(next)).toString('base64url'));
			return l.toString();
		};
		if (size < changed.length) {
			body['@odata.nextLink'] = link('$skiptoken', {
				...state,
				after: page[page.length - 1].arrivedSeq,
			});
		} else {
			body['@odata.deltaLink'] = link('$deltatoken', {
				...state,
				prevSince: state.since,
				since: state.until,
				after: undefined,
			});
		}
		this.sendJson(res, 200, body);
	}

	private attachmentJson(a: StoredAttachment, withoutContent: boolean): Record<string, unknown> {
		const { itemRaw: _raw, ...json } = a;
		return withoutContent ? { ...json, contentBytes: undefined } : json;
	}

	/** A range of an upload session: no bearer token (the URL carries its auth), under 4 MB. */
	private async uploadRange(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
		this.count('PUT upload');
		const session = this.uploads.get(url.pathname.split('/')[2] ?? '');
		if (!session || !url.searchParams.get('authtoken'))
			throw new GraphFailure(404, 'ErrorItemNotFound', 'The upload session was not found.');
		if (req.method !== 'PUT')
			throw new GraphFailure(405, 'MethodNotAllowed', 'Upload ranges are sent with PUT.');
		if (req.headers.authorization) {
			throw new GraphFailure(
				401,
				'InvalidAuthenticationToken',
				'The upload URL carries its own token: send no Authorization header with it.',
			);
		}
		const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(req.headers['content-range'] ?? ''));
		const bytes = await readBody(req);
		if (!range || Number(range[3]) !== session.item.size)
			throw new GraphFailure(400, 'InvalidContentRange', 'Content-Range is missing or wrong.');
		const start = Number(range[1]);
		const end = Number(range[2]);
		if (end - start + 1 !== bytes.length)
			throw new GraphFailure(400, 'InvalidContentRange', 'Content-Range does not match the body.');
		if (start + bytes.length <= session.offset) {
			// The same range again (after a dropped connection): already stored.
		} else if (start !== session.offset) {
			throw new GraphFailure(
				416,
				'InvalidRange',
				`The next expected range starts at ${session.offset}.`,
			);
		} else {
			session.received.push(bytes);
			session.offset += bytes.length;
		}
		if (session.offset < Number(range[3])) {
			return this.sendJson(res, 200, {
				expirationDateTime: new Date(Date.now() + 15 * 60_000).toISOString(),
				nextExpectedRanges: [String(session.offset)],
			});
		}
		const box = this.mailbox(session.upn);
		const stored = this.messageById(box, session.messageId);
		const id = newId('att');
		stored.attachments.push({
			'@odata.type': '#microsoft.graph.fileAttachment',
			id,
			name: session.item.name,
			contentType: session.item.contentType ?? 'application/octet-stream',
			size: session.offset,
			isInline: session.item.isInline === true,
			contentId: session.item.contentId ?? undefined,
			contentBytes: Buffer.concat(session.received).toString('base64'),
		});
		stored.message.hasAttachments = stored.attachments.some((a) => !a.isInline);
		this.uploads.delete(url.pathname.split('/')[2] ?? '');
		res.writeHead(201, {
			location: `${this.url}/v1.0/users/${encodeURIComponent(session.upn)}/messages/${stored.id}/attachments/${id}`,
		});
		res.end();
	}

	/** Sends a draft: its MIME with the attachments added since, delivered; the draft moves to Sent Items. */
	private async sendDraft(res: ServerResponse, upn: string, stored: StoredMessage): Promise<void> {
		const parsed = await simpleParser(stored.raw);
		const list = (v: AddressObject | AddressObject[] | undefined) =>
			recipients(v).map((r) => r.emailAddress?.address ?? '');
		// Importance headers as the draft had them (mailparser folds them into `priority`).
		const headers = parsed.headerLines
			.filter((h) => ['importance', 'x-priority', 'x-msmail-priority'].includes(h.key))
			.map((h) => ({ key: h.key, value: h.line.slice(h.line.indexOf(':') + 1).trim() }));
		if (![parsed.to, parsed.cc, parsed.bcc].some((v) => recipients(v).length))
			throw new GraphFailure(400, 'ErrorInvalidRecipients', 'At least one recipient is not valid.');
		const mime = await buildKeepingBcc({
			from: parsed.from?.text,
			to: list(parsed.to),
			cc: list(parsed.cc),
			bcc: list(parsed.bcc),
			replyTo: list(parsed.replyTo),
			subject: parsed.subject ?? '',
			text: parsed.text,
			html: typeof parsed.html === 'string' ? parsed.html : undefined,
			messageId: parsed.messageId,
			inReplyTo: parsed.inReplyTo,
			references: parsed.references,
			headers,
			attachments: stored.attachments.map((a) => ({
				filename: a.name ?? 'attachment',
				contentType: a.contentType ?? undefined,
				cid: (a as Graph.FileAttachment).contentId ?? undefined,
				content: a.itemRaw ?? Buffer.from((a as Graph.FileAttachment).contentBytes ?? '', 'base64'),
			})),
		});
		this.mailbox(upn).messages.delete(stored.id);
		await this.dispatch(upn, mime, true);
		res.writeHead(202);
		res.end();
	}

	/** Delivers sent MIME to every local recipient, and a read copy to the sender's Sent Items. */
	private async dispatch(upn: string, mime: Buffer, save: boolean): Promise<void> {
		const parsed = await simpleParser(mime);
		const from = recipients(parsed.from)[0]?.emailAddress?.address?.toLowerCase();
		if (from && from !== upn) {
			throw new GraphFailure(
				403,
				'ErrorSendAsDenied',
				`The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account.`,
			);
		}
		const to = [...recipients(parsed.to), ...recipients(parsed.cc), ...recipients(parsed.bcc)]
			.map((r) => r.emailAddress?.address?.toLowerCase() ?? '')
			.filter((a) => (MAILBOXES as readonly string[]).includes(a));
		// Exchange strips Bcc from what recipients get.
		const delivered = Buffer.from(
			mime.toString('latin1').replace(/^Bcc:.*(\r\n[ \t].*)*\r\n/im, ''),
			'latin1',
		);
		for (const rcpt of new Set(to)) await this.deliver(rcpt, delivered, 'inbox');
		if (save) {
			const sentId = await this.deliver(upn, mime, 'sentitems');
			this.mailbox(upn).messages.get(sentId)!.message.isRead = true;
		}
	}

	private async sendMail(req: IncomingMessage, res: ServerResponse, upn: string): Promise<void> {
		const raw = await readBody(req);
		let mime: Buffer;
		let save = true;
		if (String(req.headers['content-type']).startsWith('text/plain')) {
			mime = Buffer.from(raw.toString(), 'base64');
		} else {
			const body = JSON.parse(raw.toString() || '{}') as {
				message?: Graph.Message;
				saveToSentItems?: boolean;
			};
			const m = body.message;
			if (!m?.toRecipients?.length)
				throw new GraphFailure(
					400,
					'ErrorInvalidRecipients',
					'At least one recipient is not valid.',
				);
			save = body.saveToSentItems !== false;
			const address = (r: Graph.Recipient) => r.emailAddress?.address ?? '';
			mime = await buildKeepingBcc({
				from: upn,
				to: m.toRecipients.map(address),
				cc: (m.ccRecipients ?? []).map(address),
				bcc: (m.bccRecipients ?? []).map(address),
				subject: m.subject ?? '',
				[m.body?.contentType === 'html' ? 'html' : 'text']: m.body?.content ?? '',
				attachments: ((m.attachments ?? []) as Graph.FileAttachment[]).map((a) => ({
					filename: a.name ?? 'attachment',
					contentType: a.contentType ?? undefined,
					content: Buffer.from(a.contentBytes ?? '', 'base64'),
				})),
			});
		}
		await this.dispatch(upn, mime, save);
		res.writeHead(202);
		res.end();
	}

	/** POST /subscriptions, GET / PATCH / DELETE /subscriptions/{id}. */
	private async subscription(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
		const id = url.pathname.split('/')[3];
		this.count(`${req.method} /subscriptions${id ? '/{id}' : ''}`);
		try {
			if (!id && req.method === 'POST') {
				const body = parseJson<Record<string, unknown>>(await readBody(req));
				const resource = String(body.resource ?? '');
				const match =
					/^\/?(me|users\/([^/]+))\/mailFolders(?:\('([^']+)'\)|\/([^/]+))\/messages$/i.exec(
						resource,
					);
				if (!match)
					throw new SubscriptionError(
						400,
						'InvalidRequest',
						`Resource '${resource}' is not supported for this subscription.`,
					);
				const upn = await this.authorize(req, match[2] ?? 'me');
				const folder = this.folderById(this.mailbox(upn), match[3] ?? match[4]);
				const claims = JSON.parse(
					Buffer.from(
						String(req.headers.authorization).split('.')[1] ?? '',
						'base64url',
					).toString(),
				) as { appid?: string };
				const sub = await this.subscriptions.create(body, {
					upn,
					folderId: folder.id,
					applicationId: String(claims.appid ?? ''),
				});
				return this.sendJson(res, 201, this.subscriptions.json(sub));
			}
			const sub = id ? this.subscriptions.get(id) : undefined;
			if (!sub)
				throw new SubscriptionError(
					404,
					'ResourceNotFound',
					`The object was not found. Subscription '${id ?? ''}'.`,
				);
			await this.authorize(req, encodeURIComponent(sub.upn));
			if (req.method === 'GET') return this.sendJson(res, 200, this.subscriptions.json(sub));
			if (req.method === 'PATCH') {
				const body = parseJson<Record<string, unknown>>(await readBody(req));
				const renewed = this.subscriptions.renew(sub.id, body.expirationDateTime);
				return this.sendJson(res, 200, this.subscriptions.json(renewed));
			}
			if (req.method === 'DELETE') {
				this.subscriptions.remove(sub.id);
				res.writeHead(204);
				res.end();
				return;
			}
			throw new SubscriptionError(405, 'MethodNotAllowed', 'The method is not allowed.');
		} catch (error) {
			if (error instanceof SubscriptionError)
				throw new GraphFailure(error.status, error.code, error.message);
			throw error;
		}
	}

	private async control(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
		const body =
			req.method === 'POST'
				? (JSON.parse((await readBody(req)).toString() || '{}') as Record<string, unknown>)
				: {};
		switch (url.pathname) {
			case '/_test/deliver': {
				const id = await this.deliver(
					String(body.mailbox),
					Buffer.from(String(body.raw), 'base64'),
					String(body.folder ?? 'inbox'),
					body.receivedDateTime as string | undefined,
				);
				return this.sendJson(res, 200, { id });
			}
			case '/_test/folder':
				return this.sendJson(res, 200, {
					id: this.createFolderPath(String(body.mailbox), String(body.path)),
				});
			case '/_test/move-by-rule':
				this.moveByRule(String(body.mailbox), String(body.id), String(body.folder));
				return this.sendJson(res, 200, {});
			case '/_test/inject':
				this.injectFailures(
					Number(body.status),
					Number(body.count ?? 1),
					body.retryAfter as string | undefined,
					body.match as string | undefined,
					Number(body.after ?? 0),
				);
				return this.sendJson(res, 200, {});
			case '/_test/replay-delta':
				this.replays += Number(body.count ?? 1);
				return this.sendJson(res, 200, {});
			case '/_test/recreate-folder':
				return this.sendJson(res, 200, {
					id: this.recreateFolder(String(body.mailbox), String(body.path)),
				});
			case '/_test/expire-delta':
				this.expireDeltaStates();
				return this.sendJson(res, 200, {});
			case '/_test/vanish-after':
				this.vanishAfter(String(body.match), String(body.mailbox), String(body.id));
				return this.sendJson(res, 200, {});
			case '/_test/reverse-ties':
				this.reverseTies(Number(body.count ?? 1), String(body.match));
				return this.sendJson(res, 200, {});
			case '/_test/drop':
				this.dropConnections(Number(body.count ?? 1), body.match as string | undefined);
				return this.sendJson(res, 200, {});
			case '/_test/raw':
				return this.sendJson(res, 200, {
					raw: this.raw(
						String(url.searchParams.get('mailbox')),
						String(url.searchParams.get('id')),
					).toString('base64'),
				});
			case '/_test/delay':
				this.delayMs = Number(body.ms ?? 0);
				return this.sendJson(res, 200, {});
			case '/_test/list':
				return this.sendJson(res, 200, {
					value: this.list(
						String(url.searchParams.get('mailbox')),
						String(url.searchParams.get('folder')),
					),
				});
			case '/_test/subscriptions':
				return this.sendJson(res, 200, this.subscriptions.summary());
			case '/_test/lifecycle':
				return this.sendJson(res, 200, {
					sent: this.subscriptions.lifecycle(
						String(body.event),
						body.id === undefined ? undefined : String(body.id),
					),
				});
			case '/_test/mute-notifications':
				this.subscriptions.muteNext(Number(body.count ?? 1));
				return this.sendJson(res, 200, {});
			case '/_test/counts':
				return this.sendJson(res, 200, {
					requests: this.requests,
					byKind: Object.fromEntries(this.counts),
				});
			default:
				throw new GraphFailure(404, 'NotFound', 'no such control');
		}
	}
}

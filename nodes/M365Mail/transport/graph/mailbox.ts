/**
 * The mailbox over Microsoft Graph. Message ids are Graph's immutable ids: a moved message keeps
 * its id. Follow-up flags with dates, "complete" and categories are Graph's own capabilities.
 */
import { MailServiceError } from '../auth/errors';
import type {
	ChangeSubscriptions,
	Mailbox,
	MailSource,
	ReadOptions,
	WatchSettings,
} from '../mailbox';
import { composeMessage, type OutgoingMessage } from '../mime/compose';
import type {
	AttachmentContent,
	AttachmentInfo,
	FetchedMessage,
	MailFolder,
	MessageFilters,
	MessageIdentity,
	MessageStatus,
	SendOutcome,
	DraftOutcome,
	DraftSendOutcome,
} from '../types';
import { downloadGraphAttachment, listGraphAttachments } from './attachments';
import type { GraphClient } from './client';
import {
	createGraphFolder,
	deleteGraphFolder,
	graphFolderCounts,
	graphFolderPath,
	listGraphFolders,
	moveGraphFolder,
	renameGraphFolder,
	resolveGraphFolder,
} from './folders';
import {
	deleteGraphMessage,
	fetchGraphContent,
	getGraphMessage,
	graphMatches,
	messageFromGraph,
	moveGraphMessage,
	newestGraphMessage,
	searchGraphMessages,
	setGraphCategories,
	setGraphFlag,
	setGraphRead,
} from './messages';
import { applyGraphAction, fetchGraphByIds, graphUnreadAmong } from './emitted';
import { pollGraph, type GraphCursor } from './poll';
import {
	createGraphDraft,
	GRAPH_MIME_LIMIT,
	sendGraphDraft,
	sendGraphMime,
	sendGraphWithUploads,
} from './send';
import {
	createMailSubscription,
	deleteSubscription,
	folderResource,
	needsRenewal,
	readSubscription,
	renewSubscription,
} from './subscriptions';

/** The id as Graph takes it; an IMAP id or none is refused with the fix. */
export function checkGraphMessageId(value: string): string {
	const id = String(value ?? '').trim();
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
 * The MIME of a message for Graph, Bcc kept (Graph reads the recipients from the headers). Over
 * 3 MB it is composed without its attachments, which are then uploaded to a draft (`uploads`).
 */
async function composeForGraph(message: OutgoingMessage) {
	const whole = await composeMessage(message, { keepBcc: true });
	if (whole.raw.length <= GRAPH_MIME_LIMIT) return { composed: whole, uploads: undefined };
	const composed = await composeMessage({ ...message, attachments: [] }, { keepBcc: true });
	return { composed, uploads: message.attachments ?? [] };
}

export class GraphMailbox implements Mailbox {
	readonly protocol = 'Microsoft Graph';
	readonly address: string;

	constructor(private readonly client: GraphClient) {
		this.address = client.mailbox;
	}

	/** Change notifications on a folder's new messages, through a webhook Graph calls. */
	readonly changeNotifications: ChangeSubscriptions = {
		subscribe: async (folder, url) =>
			await createMailSubscription(
				this.client,
				(await resolveGraphFolder(this.client, folder)).id,
				url,
			),
		resourceOf: async (folder) =>
			folderResource(this.client, (await resolveGraphFolder(this.client, folder)).id),
		read: async (id) => await readSubscription(this.client, id),
		renew: async (id) => await renewSubscription(this.client, id),
		unsubscribe: async (id) => await deleteSubscription(this.client, id),
		needsRenewal: (expirationDateTime) => needsRenewal(expirationDateTime),
	};

	identify(id: string): MessageIdentity {
		return { id: checkGraphMessageId(id), mailbox: this.address };
	}

	/** The message and its folder path. */
	private async located(id: string) {
		const message = await getGraphMessage(this.client, checkGraphMessageId(id));
		return { message, folder: await graphFolderPath(this.client, message.parentFolderId) };
	}

	/** The message's read and flag state, follow-up flag and categories as Graph has them now. */
	private async status(id: string, extra: Partial<MessageStatus> = {}): Promise<MessageStatus> {
		const { message, folder } = await this.located(id);
		const simple = messageFromGraph(message, this.address, folder);
		const due = message.flag?.dueDateTime;
		return {
			id,
			mailbox: this.address,
			folder,
			isRead: simple.isRead,
			isFlagged: simple.isFlagged,
			flagStatus: (message.flag?.flagStatus as MessageStatus['flagStatus']) ?? 'notFlagged',
			...(due
				? {
						flagDue: due.timeZone === 'UTC' ? `${due.dateTime.replace(/Z?$/, 'Z')}` : due.dateTime,
					}
				: {}),
			categories: message.categories ?? [],
			...extra,
		};
	}

	async getMessage(id: string, read: ReadOptions): Promise<FetchedMessage> {
		const { message, folder } = await this.located(id);
		// Graph's JSON has no References: a reply reads the MIME for them.
		const content = read.threading && read.content === 'summary' ? 'parsed' : read.content;
		return await fetchGraphContent(this.client, message, this.address, folder, content, read);
	}

	async *findMessages(
		folderPath: string,
		filters: MessageFilters,
		limit: number,
		read: ReadOptions,
	): AsyncIterable<FetchedMessage> {
		const folder = await resolveGraphFolder(this.client, folderPath);
		let found = 0;
		for await (const page of searchGraphMessages(
			this.client,
			folder,
			filters,
			Math.min(limit, 100),
		)) {
			for (const m of page) {
				if (found >= limit) return;
				if (!graphMatches(messageFromGraph(m, this.address, folder.path), filters)) continue;
				found++;
				yield await fetchGraphContent(
					this.client,
					m,
					this.address,
					folder.path,
					read.content,
					read,
				);
			}
			if (found >= limit) return;
		}
	}

	async transfer(id: string, destination: string, mode: 'move' | 'copy'): Promise<MessageIdentity> {
		checkGraphMessageId(id);
		const target = await resolveGraphFolder(this.client, destination);
		const moved = await moveGraphMessage(this.client, id, target.id, mode);
		return { id: moved.id, mailbox: this.address, folder: target.path };
	}

	async remove(id: string, permanent: boolean): Promise<void> {
		checkGraphMessageId(id);
		if (permanent) await deleteGraphMessage(this.client, id);
		else {
			const trash = await resolveGraphFolder(this.client, 'deleteditems');
			await moveGraphMessage(this.client, id, trash.id, 'move');
		}
	}

	async setRead(id: string, read: boolean): Promise<MessageStatus> {
		await setGraphRead(this.client, checkGraphMessageId(id), read);
		return await this.status(id);
	}

	async setFlagged(id: string, flagged: boolean): Promise<MessageStatus> {
		await setGraphFlag(this.client, checkGraphMessageId(id), flagged ? 'flagged' : 'notFlagged');
		return await this.status(id);
	}

	/** Graph marks the original as replied to itself only for its own reply; MIME sends leave it. */
	async markAnswered(): Promise<void> {}

	readonly followUp = {
		flag: async (id: string, dates: { dueDate?: Date; startDate?: Date }) => {
			await setGraphFlag(this.client, checkGraphMessageId(id), 'flagged', dates);
			return await this.status(id);
		},
		complete: async (id: string) => {
			await setGraphFlag(this.client, checkGraphMessageId(id), 'complete');
			return await this.status(id);
		},
	};

	readonly categories = {
		set: async (id: string, categories: string[], mode: 'add' | 'remove' | 'replace') => {
			const now = await setGraphCategories(this.client, checkGraphMessageId(id), categories, mode);
			return await this.status(id, { categories: now });
		},
	};

	async listAttachments(id: string): Promise<AttachmentInfo[]> {
		return await listGraphAttachments(this.client, checkGraphMessageId(id));
	}

	async downloadAttachments(
		id: string,
		choose: (available: AttachmentInfo[]) => AttachmentInfo[],
	): Promise<AttachmentContent[]> {
		const listed = await listGraphAttachments(this.client, checkGraphMessageId(id));
		const chosen = choose(listed) as typeof listed;
		const result: AttachmentContent[] = [];
		for (const a of chosen) {
			result.push(await downloadGraphAttachment(this.client, id, a.graphId, a.index));
		}
		return result;
	}

	async listFolders(): Promise<MailFolder[]> {
		return await listGraphFolders(this.client);
	}

	async createFolder(path: string): Promise<{ folder: MailFolder; created: boolean }> {
		return await createGraphFolder(this.client, path);
	}

	async getFolder(folder: string) {
		return await graphFolderCounts(this.client, folder);
	}

	async renameFolder(folder: string, name: string) {
		return await renameGraphFolder(this.client, folder, name);
	}

	async moveFolder(folder: string, destination: string | undefined) {
		return await moveGraphFolder(this.client, folder, destination);
	}

	async deleteFolder(folder: string, permanent: boolean) {
		return await deleteGraphFolder(this.client, folder, permanent);
	}

	async send(message: OutgoingMessage): Promise<SendOutcome> {
		const { composed, uploads } = await composeForGraph(message);
		if (uploads) await sendGraphWithUploads(this.client, composed.raw, uploads);
		else await sendGraphMime(this.client, composed.raw);
		// Graph's sendMail always keeps a copy in Sent Items.
		return {
			messageId: composed.messageId,
			from: this.address,
			accepted: composed.envelope.to,
			rejected: [],
			savedToSent: true,
		};
	}

	async saveDraft(message: OutgoingMessage): Promise<DraftOutcome> {
		const { composed, uploads } = await composeForGraph(message);
		const draft = await createGraphDraft(this.client, composed.raw, uploads ?? []);
		return {
			id: draft.id,
			mailbox: this.address,
			folder: (await graphFolderPath(this.client, draft.parentFolderId)) || 'drafts',
			messageId: composed.messageId,
			from: this.address,
		};
	}

	async sendDraft(id: string): Promise<DraftSendOutcome> {
		const { bcc, ...sent } = await sendGraphDraft(this.client, checkGraphMessageId(id));
		const accepted = [...sent.to, ...sent.cc, ...bcc];
		// Graph moves the sent draft to Sent Items itself.
		const outcome = { from: this.address, accepted, rejected: [], savedToSent: true };
		return { ...sent, ...outcome, draftRemoved: true };
	}

	watch(settings: WatchSettings): MailSource<GraphCursor> {
		const client = this.client;
		const options = { ...settings, mailbox: this.address };
		return {
			sample: async () => await newestGraphMessage(client, options),
			next: async (cursor, request) => await pollGraph(client, { ...options, ...request, cursor }),
			apply: async (action, ids, messageIds, origins) =>
				await applyGraphAction(client, settings.folder, action, ids, { messageIds, origins }),
			stillUnread: async (ids, messageIds, origins) =>
				await graphUnreadAmong(client, settings.folder, ids, { messageIds, origins }),
			fetch: async (ids) => await fetchGraphByIds(client, options, ids),
		};
	}

	async probe(): Promise<void> {
		await this.client.request({ path: '/mailFolders/inbox', query: { $select: 'id' } });
	}

	async close(): Promise<void> {}
}

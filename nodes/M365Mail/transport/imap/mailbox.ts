/**
 * The mailbox over IMAP (reading, changing, folders, the trigger's source) and SMTP (sending): one
 * IMAP session per mailbox, opened on first use and replaced when its socket died.
 */
import type { ImapFlow } from 'imapflow';

import { MailServiceError, redactSecrets } from '../auth/errors';
import type { MailConnection } from '../connection';
import type { ChangeHandlers, Mailbox, MailSource, ReadOptions, WatchSettings } from '../mailbox';
import type { OutgoingMessage } from '../mime/compose';
import {
	decodeImapMessageId,
	encodeImapMessageId,
	type AttachmentContent,
	type AttachmentInfo,
	type DraftOutcome,
	type DraftSendOutcome,
	type FetchedMessage,
	type ImapMessageLocation,
	type MailFolder,
	type MessageFilters,
	type MessageIdentity,
	type MessageStatus,
	type SendOutcome,
} from '../types';
import * as folders from './folders';
import type { ImapFolder } from './folders';
import { watchFolderIdle } from './idle';
import { withFolder } from './lock';
import {
	changeFlags,
	deletePermanently,
	fetchMessages,
	fetchMetadata,
	outOfDate,
	transferMessages,
	type OpenFolder,
} from './messages';
import { applyAction, fetchByIds, unreadAmong } from './emitted';
import { newestMessage, pollNewMessages, type ImapCursor } from './poll';
import { canDeselect, keepSession, PROBE_TIMEOUT_MS, takeKept, tokenFingerprint } from './kept';
import { findNewest } from './search';
import { readImapDraft, saveImapDraft, sendImapDraft, sendOverSmtp } from './outgoing';
import { endSession, explainSilence, markUsed, openImapSession, stillAnswers } from './session';

export interface MailboxOptions {
	/** Trouble worth a log line that must not fail the item (a failed copy to Sent Items). */
	warn?: (message: string) => void;
	/** Detail for the debug log (an IMAP socket error after connecting). */
	debug?: (message: string) => void;
	/** A trigger's polls keep their IMAP session under this key (see kept.ts); Graph ignores it. */
	keepSessionAs?: string;
}

export class ImapMailbox implements Mailbox {
	readonly protocol = 'IMAP';
	private session?: Promise<ImapFlow>;
	/** With keepSessionAs: the fingerprint of the token the session is opened with. */
	private token?: string;

	constructor(
		private readonly connection: MailConnection,
		readonly address: string,
		private readonly options: MailboxOptions = {},
	) {}

	/** The session of this mailbox; one whose socket died is replaced. */
	private async client(): Promise<ImapFlow> {
		if (this.session) {
			const client = await this.session.catch(() => undefined);
			if (client && (await stillAnswers(client, PROBE_TIMEOUT_MS))) return client;
			client?.close();
		}
		// Set before anything is awaited: callers at the same time share one session.
		const session = this.connect();
		this.session = session;
		session.catch(() => {
			if (this.session === session) this.session = undefined;
		});
		return markUsed(await session);
	}

	/** The session the trigger's last poll kept, or a new one. */
	private async connect(): Promise<ImapFlow> {
		const kept = await this.keptSession();
		if (kept) return kept;
		const { debug } = this.options;
		return await openImapSession({
			...this.connection,
			mailbox: this.address,
			onError:
				debug && ((error) => debug(`IMAP connection error: ${redactSecrets(error.message)}`)),
		});
	}

	/** Where this mailbox's session is kept between polls: the trigger, the mailbox, the endpoint. */
	private keepKey(): string | undefined {
		const { keepSessionAs } = this.options;
		if (!keepSessionAs) return undefined;
		const { cloud, allowUnauthorizedCerts, allowedMailboxes } = this.connection;
		return JSON.stringify([
			keepSessionAs,
			this.address.toLowerCase(),
			cloud.imapHost,
			cloud.imapPort,
			cloud.imapTls,
			allowUnauthorizedCerts,
			allowedMailboxes ?? null,
		]);
	}

	/** The session the last poll kept, when it signed in with the token the credential gives now. */
	private async keptSession(): Promise<ImapFlow | undefined> {
		const key = this.keepKey();
		if (!key) return undefined;
		// A token that cannot be had is openImapSession's to report (with its fix).
		const token = await this.connection.tokens.getAccessToken('outlook').catch(() => undefined);
		this.token = token ? tokenFingerprint(token) : undefined;
		if (!this.token) return undefined;
		const client = await takeKept(key, this.token);
		// Folders may have been created, renamed or deleted since: the list is trusted only for the
		// poll's own folder, which opening checks (folders.ts, carryFolders).
		if (client) folders.carryFolders(client);
		return client;
	}

	identify(id: string): MessageIdentity {
		return this.identity(decodeImapMessageId(id));
	}

	private identity(location: ImapMessageLocation): MessageIdentity {
		return {
			id: encodeImapMessageId(location),
			mailbox: this.address,
			folder: location.folder,
			uid: location.uid,
			uidValidity: location.uidValidity,
		};
	}

	private notFound(location: ImapMessageLocation): MailServiceError {
		return new MailServiceError(
			`Message ${location.uid} not found in "${location.folder}" of ${this.address}`,
			'It was moved or deleted. A moved message gets a new id: use the id that Move returned, or find it again with Get Many.',
			'notFound',
		);
	}

	/** Opens the message's folder, checks the id is still valid there, and runs `work`. */
	private async withMessage<T>(
		id: string,
		readOnly: boolean,
		work: (open: OpenFolder, location: ImapMessageLocation, folder: ImapFolder) => Promise<T>,
	): Promise<T> {
		const location = decodeImapMessageId(id);
		const client = await this.client();
		return await withFolder(
			client,
			this.address,
			location.folder,
			{ readOnly },
			async (open, folder) => {
				if (open.uidValidity !== location.uidValidity) throw outOfDate(open.folder);
				return await work(open, location, folder);
			},
		);
	}

	/** One message in the given depth; a missing one is a clear error. */
	private async fetchOne(
		open: OpenFolder,
		location: ImapMessageLocation,
		read: ReadOptions,
	): Promise<FetchedMessage> {
		const [metadata] = await fetchMetadata(open, [location.uid]);
		if (!metadata) throw this.notFound(location);
		const [fetched] = await fetchMessages(open, [metadata], read.content, read);
		if (!fetched) throw this.notFound(location);
		return fetched;
	}

	async getMessage(id: string, read: ReadOptions): Promise<FetchedMessage> {
		return await this.withMessage(id, true, (open, location) =>
			this.fetchOne(open, location, read),
		);
	}

	async *findMessages(
		folder: string,
		filters: MessageFilters,
		limit: number,
		read: ReadOptions,
	): AsyncIterable<FetchedMessage> {
		const client = await this.client();
		// Fetched under the folder's lock, handed out after it: no command runs inside a fetch.
		const messages = await withFolder(
			client,
			this.address,
			folder,
			{ readOnly: true },
			async (open) => {
				return await findNewest(open, filters, limit, read);
			},
		);
		yield* messages;
	}

	async transfer(id: string, destination: string, mode: 'move' | 'copy'): Promise<MessageIdentity> {
		return await this.withMessage(id, mode === 'copy', async (open, location) => {
			const target = await folders.resolveFolder(open.client, this.address, destination);
			// Fails clearly when the message is gone instead of moving nothing.
			await this.fetchOne(open, location, { content: 'summary' });
			const moved = await transferMessages(open, [location.uid], target.serverPath, mode);
			const uid = moved.uidMap.get(location.uid);
			if (uid === undefined || moved.uidValidity === undefined) {
				throw new MailServiceError(
					`The server ${mode === 'move' ? 'moved' : 'copied'} the message but did not say its new id`,
					'Find it in the destination folder with Get Many.',
					'unknown',
				);
			}
			return this.identity({ folder: target.path, uidValidity: moved.uidValidity, uid });
		});
	}

	async remove(id: string, permanent: boolean): Promise<void> {
		await this.withMessage(id, false, async (open, location, folder) => {
			await this.fetchOne(open, location, { content: 'summary' });
			const trash = permanent
				? undefined
				: await folders.resolveFolder(open.client, this.address, 'deleteditems');
			// Deleting inside Deleted Items is a permanent delete, as in Outlook.
			if (!trash || trash.serverPath === folder.serverPath) {
				await deletePermanently(open, [location.uid]);
			} else {
				await transferMessages(open, [location.uid], trash.serverPath, 'move');
			}
		});
	}

	/** One STORE, then the message's state as the server has it now. */
	private async changeFlags(
		id: string,
		change: { add?: string[]; remove?: string[] },
	): Promise<MessageStatus> {
		return await this.withMessage(id, false, async (open, location) => {
			// A STORE on a missing UID does nothing; the read below then says the message is gone.
			await changeFlags(open, [location.uid], change);
			const { message } = await this.fetchOne(open, location, { content: 'summary' });
			return {
				...this.identity(location),
				folder: location.folder,
				isRead: message.isRead,
				isFlagged: message.isFlagged,
				flags: message.flags,
			};
		});
	}

	async setRead(id: string, read: boolean): Promise<MessageStatus> {
		return await this.changeFlags(id, read ? { add: ['\\Seen'] } : { remove: ['\\Seen'] });
	}

	async setFlagged(id: string, flagged: boolean): Promise<MessageStatus> {
		return await this.changeFlags(id, flagged ? { add: ['\\Flagged'] } : { remove: ['\\Flagged'] });
	}

	async markAnswered(id: string): Promise<void> {
		await this.withMessage(id, false, async (open, location) => {
			await changeFlags(open, [location.uid], { add: ['\\Answered'] });
		});
	}

	async listAttachments(id: string): Promise<AttachmentInfo[]> {
		return (await this.getMessage(id, { content: 'summary' })).message.attachments;
	}

	async downloadAttachments(
		id: string,
		choose: (available: AttachmentInfo[]) => AttachmentInfo[],
	): Promise<AttachmentContent[]> {
		// One download of the message: its parsed attachments are both the list and the bytes.
		const { attachments } = await this.getMessage(id, { content: 'parsed' });
		const chosen = choose(attachments);
		return attachments.filter((a) => chosen.includes(a));
	}

	async listFolders(): Promise<MailFolder[]> {
		return (await folders.listFolders(await this.client())).map(folders.publicFolder);
	}

	async createFolder(path: string): Promise<{ folder: MailFolder; created: boolean }> {
		return await folders.createFolderPath(await this.client(), path);
	}

	async getFolder(folder: string) {
		return await folders.imapFolderCounts(await this.client(), this.address, folder);
	}

	async renameFolder(folder: string, name: string) {
		return await folders.renameImapFolder(await this.client(), this.address, folder, name);
	}

	async moveFolder(folder: string, destination: string | undefined) {
		return await folders.moveImapFolder(await this.client(), this.address, folder, destination);
	}

	async deleteFolder(folder: string, permanent: boolean) {
		return await folders.deleteImapFolder(await this.client(), this.address, folder, permanent);
	}

	async send(message: OutgoingMessage, options: { appendToSent: boolean }): Promise<SendOutcome> {
		return await sendOverSmtp(this.outgoing(), message, options.appendToSent);
	}

	async saveDraft(message: OutgoingMessage): Promise<DraftOutcome> {
		const { folder, location, messageId } = await saveImapDraft(this.outgoing(), message);
		// A server without UIDPLUS does not say where the draft went: it is saved, without an id.
		const where = location ? this.identity(location) : { mailbox: this.address };
		return { ...where, folder, messageId, from: this.address };
	}

	async sendDraft(id: string, options: { appendToSent: boolean }): Promise<DraftSendOutcome> {
		const read = () =>
			this.withMessage(id, true, (open, at, folder) =>
				readImapDraft(open, at.uid, this.notFound(at), folder.wellKnownName === 'drafts'),
			);
		const draft = { read, remove: () => this.remove(id, true) };
		return await sendImapDraft(this.outgoing(), draft, options.appendToSent);
	}

	/** What outgoing.ts borrows of this mailbox (its `Outgoing`). */
	private outgoing() {
		const { connection, address } = this;
		return { connection, address, client: () => this.client(), warn: this.options.warn };
	}

	watch(settings: WatchSettings): MailSource<ImapCursor> {
		const mailbox = this.address;
		const { folder } = settings;
		const options = { ...settings, mailbox };
		return {
			sample: async () => await newestMessage(await this.client(), options),
			next: async (cursor, request) => {
				// The messages, the cursor, whether more is waiting, and the notes for the log.
				const client = await this.client();
				const polled = pollNewMessages(client, { ...options, ...request, cursor });
				const silent = explainSilence(client, 'a poll');
				const { skippedTooLarge, baseline, ...found } = await polled.catch(silent);
				return {
					...found,
					baseline: baseline === 'first',
					reset: baseline === 'uidValidityChanged' ? 'uidValidityChanged' : undefined,
					skipped: skippedTooLarge.map((s) => ({
						id: `UID ${s.uid} in ${folder}`,
						reason: `${s.size ?? 'more than the limit of'} bytes, over the size limit`,
					})),
				};
			},
			apply: async (action, ids, messageIds) =>
				await applyAction(await this.client(), mailbox, folder, action, ids, messageIds),
			stillUnread: async (ids, messageIds) =>
				await unreadAmong(await this.client(), mailbox, folder, ids, messageIds),
			fetch: async (ids) => await fetchByIds(await this.client(), options, ids),
		};
	}

	readonly instant = {
		watch: async (folder: string, handlers: ChangeHandlers) =>
			await watchFolderIdle({ ...this.connection, mailbox: this.address }, folder, handlers),
	};

	async probe(): Promise<void> {
		await (await this.client()).mailboxOpen('INBOX', { readOnly: true });
	}

	async close(): Promise<void> {
		const session = this.session;
		this.session = undefined;
		const client = await session?.catch(() => undefined);
		if (!client) return;
		const key = this.keepKey();
		// Kept with its folder selected: the next poll leaves it as its probe (kept.ts).
		if (key && this.token && canDeselect(client) && keepSession(key, this.token, client)) return;
		await endSession(client);
	}
}

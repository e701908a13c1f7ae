/**
 * The one interface both nodes speak to a mailbox, whatever reaches it: IMAP + SMTP (`imap/`) or
 * Microsoft Graph (`graph/`). Operations are written once against it; what only one transport can
 * do is an optional capability, and an operation that needs one says so with `requireCapability`.
 */
import { MailServiceError } from './auth/errors';
import type { OutgoingMessage } from './mime/compose';
import type {
	AfterEmit,
	AttachmentContent,
	AttachmentInfo,
	FetchedMessage,
	MailFolder,
	MessageContent,
	MessageFilters,
	MessageIdentity,
	MessageStatus,
	SendOutcome,
	DraftOutcome,
	DraftSendOutcome,
} from './types';

/** How much of a message to read, and in which form. */
export interface ReadOptions {
	content: MessageContent;
	/** Everything the MIME parser read (the "full" output). */
	full?: boolean;
	/** The bytes as well as the parsed message. */
	keepRaw?: boolean;
	/**
	 * `false`: the attachments' bytes are dropped once read (no binary output needs them), so a poll
	 * of parsed mail holds only what its items show.
	 */
	attachmentContent?: boolean;
	/** Message-ID and References are needed (a reply threads under the original). */
	threading?: boolean;
}

/** Where the trigger watches, what it passes over, and how much it reads of each message. */
export interface WatchSettings extends ReadOptions {
	folder: string;
	filters: MessageFilters;
}

/** Why a source started its cursor again. */
export type ResetReason = 'uidValidityChanged' | 'deltaReset' | 'folderRecreated';

export interface NextRequest {
	startFrom: 'now' | 'existing';
	maxMessages: number;
	/** Stop taking messages once their bytes pass this (the next poll goes on). */
	maxBytes: number;
	/** Epoch ms after which no further download starts. */
	deadline: number;
	/** When the last completed poll began: after a reset, mail received since then is recovered. */
	recoverSince?: Date;
	/**
	 * With "start from now" and no cursor: when the trigger began watching, because a starting point set
	 * then never reached n8n's database (less a minute, for clocks). Mail received since then is new.
	 */
	startedAt?: Date;
	/** Emitted before (by id or Message-ID): skip it. */
	emitted: (id: string, messageId: string | null) => boolean;
	/**
	 * The mail recovered after a reset (see `NewMail.reset`) is still being read, a poll's worth at a
	 * time: copies of mail emitted before come under new ids, and are passed over by Message-ID.
	 */
	recovering?: boolean;
}

export interface NewMail<C> {
	/** Oldest first. */
	messages: FetchedMessage[];
	cursor: C;
	/** More new mail is waiting (a limit was reached). */
	more: boolean;
	/** Messages passed over, with the reason (size limit...). */
	skipped: Array<{ id: string; reason: string }>;
	/** What the poll had to work around, for the log (a server that left messages out of an answer). */
	notes?: string[];
	/**
	 * Mail may show up without a notice (IMAP: a UID passed that was not there yet, kept as a hole):
	 * the instant trigger looks again after this many ms.
	 */
	lookAgainInMs?: number;
	/** The cursor was started again; `messages` then holds what was recovered. */
	reset?: ResetReason;
	/** The first poll only set the starting point. */
	baseline?: boolean;
}

/** New mail in one watched folder, for the trigger's delivery engine. */
export interface MailSource<C = unknown> {
	/** The newest matching message ("Fetch Test Event"), changing nothing. */
	sample(): Promise<FetchedMessage | undefined>;
	/** New mail after the cursor (none yet: a baseline), within the request's limits. */
	next(cursor: C | undefined, request: NextRequest): Promise<NewMail<C>>;
	/**
	 * Applies an "after emitting" action; ids no longer in the folder are left alone. `messageIds`
	 * (id to Message-ID) lets a source find a message emitted before a reset under its new id;
	 * `origins` (id to FetchedMessage.origin) tells it which were emitted before one.
	 */
	apply(
		action: AfterEmit,
		ids: string[],
		messageIds?: ReadonlyMap<string, string | null>,
		origins?: ReadonlyMap<string, string>,
	): Promise<void>;
	/**
	 * Which of these messages are still in the watched folder and unread, each with its id now (the
	 * same id, unless `messageIds` found it under a new one after a reset).
	 */
	stillUnread(
		ids: string[],
		messageIds?: ReadonlyMap<string, string | null>,
		origins?: ReadonlyMap<string, string>,
	): Promise<Map<string, string>>;
	/** Downloads these messages again (for a repeated emit), oldest first. */
	fetch(ids: string[]): Promise<FetchedMessage[]>;
}

/** What a watch reports: mail may have arrived, or the watch is in trouble (and retries by itself). */
export interface ChangeHandlers {
	/** Mail may have arrived (or the watch reconnected): look now. */
	onChange(): void;
	/** The watch failed `attempt` times in a row; it tries again after `retryInMs`. */
	onTrouble(error: Error, attempt: number, retryInMs: number): void;
}

export interface FolderWatch {
	stop(): Promise<void>;
	/**
	 * The folder was reset (rebuilt, or created again): watch it anew. An IMAP session in IDLE on the
	 * old folder hears of no new mail (Dovecot tells it nothing, not even on NOOP); a Graph
	 * subscription names the old folder's id.
	 */
	renew?(): void;
}

/** Notice of new mail as it arrives (IMAP IDLE). */
export interface InstantNotice {
	/** Resolves once the watch runs, or rejects with why it cannot. */
	watch(folder: string, handlers: ChangeHandlers): Promise<FolderWatch>;
}

/** A change-notification subscription on a folder's new messages (Microsoft Graph). */
export interface MailSubscription {
	id: string;
	/** The secret Graph sends back with every notification. */
	clientState: string;
	expirationDateTime: string;
	notificationUrl: string;
	/** What it watches (the mailbox and folder), to tell whether it still fits the parameters. */
	resource: string;
}

/** Notice of new mail through a webhook the service calls (Microsoft Graph change notifications). */
export interface ChangeSubscriptions {
	/** Subscribes the URL (the service validates it first) to new messages in the folder. */
	subscribe(folder: string, notificationUrl: string): Promise<MailSubscription>;
	/** What a subscription of the folder would watch. */
	resourceOf(folder: string): Promise<string>;
	/** The subscription as the service has it, or undefined when it is gone. */
	read(id: string): Promise<{ expirationDateTime: string; notificationUrl: string } | undefined>;
	/** Extends (and reauthorizes) it; the new expiry. */
	renew(id: string): Promise<string>;
	/** Deletes it; one already gone is fine. */
	unsubscribe(id: string): Promise<void>;
	/** Whether it should be renewed now. */
	needsRenewal(expirationDateTime: string): boolean;
}

/** Outlook's follow-up flag with dates, and its "complete" state (Graph only). */
export interface FollowUpFlags {
	flag(id: string, dates: { dueDate?: Date; startDate?: Date }): Promise<MessageStatus>;
	complete(id: string): Promise<MessageStatus>;
}

/** Outlook categories (Graph only). */
export interface Categories {
	set(id: string, categories: string[], mode: 'add' | 'remove' | 'replace'): Promise<MessageStatus>;
}

export interface Mailbox {
	/** The mailbox address. */
	readonly address: string;
	/** "IMAP" or "Microsoft Graph", for messages. */
	readonly protocol: string;

	/** Checks a message id before any network call; who a result item about it names. */
	identify(id: string): MessageIdentity;
	/** One message; a message that is gone is a `notFound` error that says how to find it again. */
	getMessage(id: string, read: ReadOptions): Promise<FetchedMessage>;
	/** Messages of a folder matching the filters, newest first, up to `limit`. */
	findMessages(
		folder: string,
		filters: MessageFilters,
		limit: number,
		read: ReadOptions,
	): AsyncIterable<FetchedMessage>;
	/** Moves or copies a message; where it is afterwards (IMAP gives a moved message a new id). */
	transfer(id: string, destination: string, mode: 'move' | 'copy'): Promise<MessageIdentity>;
	/** Deletes to Deleted Items, or for good. */
	remove(id: string, permanent: boolean): Promise<void>;
	setRead(id: string, read: boolean): Promise<MessageStatus>;
	setFlagged(id: string, flagged: boolean): Promise<MessageStatus>;
	/** Outlook's "You replied" (IMAP \Answered; Graph sets it itself when mail is sent from it). */
	markAnswered(id: string): Promise<void>;

	listAttachments(id: string): Promise<AttachmentInfo[]>;
	/** The bytes of the attachments `choose` picks from the message's list. */
	downloadAttachments(
		id: string,
		choose: (available: AttachmentInfo[]) => AttachmentInfo[],
	): Promise<AttachmentContent[]>;

	listFolders(): Promise<MailFolder[]>;
	/** Creates the folder and any missing parent; `created` is false when it existed. */
	createFolder(path: string): Promise<{ folder: MailFolder; created: boolean }>;
	/** One folder, with how many messages it holds and how many of them are unread. */
	getFolder(folder: string): Promise<{ folder: MailFolder; total: number; unread: number }>;
	/** Renames a folder where it is (subfolders and mail go with it); never a well-known folder. */
	renameFolder(folder: string, name: string): Promise<{ folder: MailFolder; previousPath: string }>;
	/**
	 * Moves a folder into another, or with no destination to the top of the mailbox (subfolders
	 * and mail go with it); never a well-known folder.
	 */
	moveFolder(
		folder: string,
		destination: string | undefined,
	): Promise<{ folder: MailFolder; previousPath: string }>;
	/**
	 * Moves a folder, its subfolders and mail to Deleted Items (`movedTo`: where it is now), or
	 * deletes them for good; never a well-known folder, nor one that holds one.
	 */
	deleteFolder(
		folder: string,
		permanent: boolean,
	): Promise<{ folder: MailFolder; movedTo?: string }>;

	/** Sends as this mailbox; never retried (a retry could send twice). */
	send(message: OutgoingMessage, options: { appendToSent: boolean }): Promise<SendOutcome>;
	/**
	 * Saves the message in Drafts without sending it, Bcc kept (a person opens it in Outlook and
	 * sends it). Never retried: a retry could save it twice.
	 */
	saveDraft(message: OutgoingMessage): Promise<DraftOutcome>;
	/**
	 * Sends a draft as saved (Bcc to the envelope, not the headers), and it leaves Drafts. A message
	 * that is not a draft, or a draft without recipients, is refused before anything is sent. Never
	 * retried: a retry could send it twice.
	 */
	sendDraft(id: string, options: { appendToSent: boolean }): Promise<DraftSendOutcome>;

	/** New mail in a folder, for the trigger. */
	watch(settings: WatchSettings): MailSource;

	/** Opens the Inbox read-only: proves the credential reaches this mailbox (credential test). */
	probe(): Promise<void>;

	/** Optional capabilities. */
	readonly followUp?: FollowUpFlags;
	readonly categories?: Categories;
	readonly instant?: InstantNotice;
	readonly changeNotifications?: ChangeSubscriptions;

	/** Closes what this mailbox opened (an IMAP session); safe to call twice. */
	close(): Promise<void>;
}

/** The capability, or an error that names the transport that has it and how to choose it. */
export function requireCapability<T>(
	mailbox: Mailbox,
	capability: T | undefined,
	what: string,
	where: { protocol: string; fix: string } = {
		protocol: 'Microsoft Graph',
		fix: 'Use a delegated credential with Access "Microsoft Graph", or an app-only credential with Protocol "Microsoft Graph".',
	},
): T {
	if (capability !== undefined) return capability;
	throw new MailServiceError(
		`${what} needs ${where.protocol}: ${mailbox.protocol} has no such thing here`,
		where.fix,
		'input',
	);
}

/**
 * The domain types every transport returns and every node speaks: message, address, folder,
 * attachment, filters, ids. Neither implementation owns this file: no n8n, no imapflow, no Graph JSON.
 */
import { MailServiceError } from './auth/errors';

export interface MailAddress {
	name: string;
	address: string;
}

export interface AttachmentInfo {
	/** Position among the message's attachments, stable for one message. */
	index: number;
	/** Safe to use as a file name (transport/mime/filename.ts). */
	filename: string;
	/** The name the sender wrote, when the safe one differs. */
	originalFileName?: string;
	contentType: string;
	size: number;
	contentId?: string;
	/** An image referenced from the HTML body (cid:) rather than a file the sender attached. */
	inline: boolean;
}

/** An attachment with its bytes. */
export interface AttachmentContent extends AttachmentInfo {
	content: Buffer;
}

export type Importance = 'low' | 'normal' | 'high';

/** Where a message lives in an IMAP mailbox; with the mailbox, enough to reach it again. */
export interface ImapMessageLocation {
	folder: string;
	uidValidity: string;
	uid: number;
}

/** The "simple" message every output format starts from. */
export interface MailMessage {
	/** One string the action node accepts to find this message again. */
	id: string;
	mailbox: string;
	folder: string;
	/** IMAP only: with the folder, where the message is. */
	uidValidity?: string;
	uid?: number;
	messageId: string | null;
	subject: string;
	from: MailAddress | null;
	sender: MailAddress | null;
	to: MailAddress[];
	cc: MailAddress[];
	bcc: MailAddress[];
	replyTo: MailAddress[];
	/** The Date header, ISO 8601. */
	date: string | null;
	/** When the server received it (IMAP INTERNALDATE), ISO 8601. */
	receivedAt: string | null;
	text: string | null;
	html: string | null;
	isRead: boolean;
	isFlagged: boolean;
	isAnswered: boolean;
	flags: string[];
	importance: Importance;
	hasAttachments: boolean;
	attachments: AttachmentInfo[];
	inReplyTo: string | null;
	references: string[];
	/** Headers people filter and route on: list-id, auto-submitted, x-priority, importance... */
	headers: Record<string, string>;
	size: number;
	/** Set when the MIME could not be parsed completely; the other fields hold what could be read. */
	parseError?: string;
	/** Set when `text` or `html` was cut at TEXT_LIMIT_BYTES (Simple output). */
	truncated?: boolean;
}

/** How much of each message to download. */
export type MessageContent =
	/** Envelope, structure and the text/HTML parts: no attachment bytes, no MIME parsing. */
	| 'summary'
	/** The whole message, parsed (attachments available as bytes). */
	| 'parsed'
	/** The whole message as bytes, summarised from the envelope (not parsed). */
	| 'raw';

/** A message as read: the simple shape, and what the output asked for beyond it. */
export interface FetchedMessage {
	message: MailMessage;
	attachments: AttachmentContent[];
	/** Everything the MIME parser read, for the "full" output (no attachment bytes). */
	full?: Record<string, unknown>;
	raw?: Buffer;
	/**
	 * Graph: the folder it was read from (a short mark of its id). A folder created again under the
	 * watched path is another folder: an action owed on a message emitted from the old one looks for
	 * its copy in the new one by Message-ID (IMAP ids name their UIDVALIDITY for the same purpose).
	 */
	origin?: string;
}

/** What a transport can say about a message after changing it (the item of a flag or read change). */
export interface MessageStatus {
	id: string;
	mailbox: string;
	folder: string;
	isRead: boolean;
	isFlagged: boolean;
	/** IMAP: where the message is, and its keywords. */
	uid?: number;
	uidValidity?: string;
	flags?: string[];
	/** Graph: the follow-up flag and the categories. */
	flagStatus?: 'flagged' | 'notFlagged' | 'complete';
	flagDue?: string;
	categories?: string[];
}

/** Who a result item is about: the id and what else the transport identifies a message by. */
export type MessageIdentity = Pick<MessageStatus, 'id' | 'mailbox' | 'uid' | 'uidValidity'> &
	Partial<Pick<MessageStatus, 'folder'>>;

/** A mail folder as both transports list it. */
export interface MailFolder {
	/** Full path with "/" as separator, as users type it: `Inbox/Tech-Support`. */
	path: string;
	name: string;
	/** Well-known role: inbox, sentitems, drafts, deleteditems, junkemail, archive. */
	wellKnownName?: string;
	/** Graph: the folder's id. */
	id?: string;
	/** IMAP: the server's hierarchy delimiter and subscription. */
	delimiter?: string;
	subscribed?: boolean;
}

/** How both transports list folders: Inbox first, then by path. */
export function inboxFirst(a: MailFolder, b: MailFolder): number {
	if (a.wellKnownName === 'inbox') return -1;
	if (b.wellKnownName === 'inbox') return 1;
	return a.path.localeCompare(b.path);
}

/** What happened to mail that was sent. */
export interface SendOutcome {
	messageId: string;
	from: string;
	accepted: string[];
	rejected: string[];
	savedToSent: boolean;
}

/**
 * A message saved in Drafts and not sent: where it is (its id, unless an IMAP server without
 * UIDPLUS did not say it) and its Message-ID.
 */
export type DraftOutcome = Omit<MessageIdentity, 'id'> & {
	id?: string;
	folder: string;
	messageId: string;
	from: string;
};

/**
 * A draft sent (Send Draft): what a send says, with the draft's recipients and subject, and whether
 * the draft left Drafts (over IMAP it is deleted after the send; a failed delete is a warning).
 */
export interface DraftSendOutcome extends SendOutcome {
	to: string[];
	cc: string[];
	subject: string;
	draftRemoved: boolean;
}

/** What the trigger does with mail once n8n has it. */
export type AfterEmit =
	| { action: 'none' }
	| { action: 'markRead' }
	/** The instant trigger's give-up: Outlook's flag on a message whose last run failed. */
	| { action: 'flag' }
	| { action: 'move'; folder: string }
	/** Moves to Deleted Items (recoverable), as Outlook's Delete does. */
	| { action: 'delete' };

/** Filters of the trigger and of "get many", with Power Automate's semantics. */
export interface MessageFilters {
	/** Any of these senders (addresses or parts of them). */
	from?: string[];
	/** Any of these in To. */
	to?: string[];
	/** Any of these in Cc. */
	cc?: string[];
	/** Any of these in To or Cc. */
	toOrCc?: string[];
	subjectContains?: string;
	importance?: Importance;
	hasAttachments?: boolean;
	unreadOnly?: boolean;
	receivedAfter?: Date;
	receivedBefore?: Date;
	/** Skip messages larger than this many bytes. */
	maxSizeBytes?: number;
	/** Words to find anywhere in the message (IMAP SEARCH TEXT, Graph `$search`). */
	search?: string;
}

/**
 * The largest message any poll or Get reads, whatever the size option says: Exchange Online's own
 * limit is 150 MB. Larger ones are skipped (and named), never downloaded.
 */
export const MAX_MESSAGE_BYTES = 150 * 1024 * 1024;

/** Simple output shows at most this much of a text or HTML body (the item says `truncated`). */
export const TEXT_LIMIT_BYTES = 1024 * 1024;

const ID_PATTERN = /^imap:(\d+):(\d+):(.+)$/s;

/** `imap:<uidValidity>:<uid>:<folder path>`: folder last, so any character may appear in it. */
export function encodeImapMessageId(location: ImapMessageLocation): string {
	return `imap:${location.uidValidity}:${location.uid}:${location.folder}`;
}

/** Reads an id the trigger or an operation emitted; says how to get one when it is not. */
export function decodeImapMessageId(id: string): ImapMessageLocation {
	const match = ID_PATTERN.exec(String(id ?? '').trim());
	if (!match) {
		throw new MailServiceError(
			`"${String(id).slice(0, 80)}" is not a message ID of this node over IMAP`,
			'Use the "id" field of an item from the Microsoft 365 Mail Trigger or from Message > Get Many (it looks like imap:<uidValidity>:<uid>:<folder>). Graph ids only work with Graph access.',
			'input',
		);
	}
	return { uidValidity: match[1], uid: Number(match[2]), folder: match[3] };
}

/** Splits "a@x.com; b@y.com, c" into trimmed, non-empty parts. */
export function splitList(value: string | string[] | undefined): string[] {
	if (Array.isArray(value)) return value.flatMap((v) => splitList(v));
	return String(value ?? '')
		.split(/[;,]/)
		.map((v) => v.trim())
		.filter(Boolean);
}

/**
 * The trigger's memory in n8n's workflow static data, written so that n8n sees every change.
 *
 * n8n 2.41 wraps static data with `ObservableObject.create` when it builds the Workflow and writes it
 * to its database at the next emit, and only when a watched object changed. An object assigned
 * later is not watched, so a write into it would stay in memory until the workflow is rebuilt from
 * the database (restart, re-activation, re-publish) and be lost then. Hence one rule here: every
 * change assigns a new `folders` object to the node's static data (a watched top-level key), never a
 * field inside an object that is already there.
 */
import type { IDataObject } from 'n8n-workflow';

import type { AfterEmit, FetchedMessage } from '../transport/types';

export const STATE_VERSION = 2;

/** A message emitted for the at-least-once option: emitted again while still unread. */
export interface LedgerEntry {
	id: string;
	messageId?: string | null;
	/** Where it was read from (FetchedMessage.origin: a mark of Graph's folder id). */
	origin?: string;
	/** ISO times of the first and the latest emit. */
	first: string;
	last: string;
	attempt: number;
}

/** An emitted message as the trigger remembers it: [id, Message-ID, origin if the source gives one]. */
export type Emitted = [string, string | null, string?];

/** Everything the trigger remembers about one watched mailbox folder. */
export interface FolderState {
	/** The source's own cursor (IMAP: UIDVALIDITY + last UID; Graph: folder id + delta link). */
	cursor?: unknown;
	/** When the last poll that completed began (ISO): where a re-baseline recovers mail from. */
	at?: string;
	/** "After emitting" actions owed for messages already handed to n8n: applied by the next poll. */
	pending?: Array<{ action: AfterEmit; ids: string[] }>;
	/**
	 * The latest emitted messages: replays and recovered mail are not emitted twice, and an action
	 * owed after a reset finds the copy of a message emitted before it.
	 */
	recent?: Emitted[];
	/**
	 * Set while the mail recovered after a reset takes more than one poll: until a poll finds no more,
	 * a message whose Message-ID was emitted before is a copy of it, under the reset's new id.
	 */
	recovering?: boolean;
	ledger?: LedgerEntry[];
	/** Passing trouble since this time, for this many polls in a row. */
	trouble?: { count: number; since: string };
}

/** How `recent` remembers an emitted message. */
export function remember(fetched: FetchedMessage): Emitted {
	const { id, messageId } = fetched.message;
	return fetched.origin ? [id, messageId, fetched.origin] : [id, messageId];
}

/**
 * What the trigger remembers of the messages in `recent` and the ledger, by id: the Message-ID and
 * the origin (FetchedMessage.origin) each was emitted with, for the source to find copies after a
 * reset.
 */
export function emittedBefore(state: FolderState | undefined): {
	messageIds: Map<string, string | null>;
	origins: Map<string, string>;
} {
	const messageIds = new Map<string, string | null>();
	const origins = new Map<string, string>();
	for (const [id, messageId, origin] of state?.recent ?? []) {
		messageIds.set(id, messageId);
		if (origin) origins.set(id, origin);
	}
	for (const entry of state?.ledger ?? []) {
		if (!messageIds.has(entry.id)) messageIds.set(entry.id, entry.messageId ?? null);
		if (entry.origin) origins.set(entry.id, entry.origin);
	}
	return { messageIds, origins };
}

/** The static data of a trigger node, read and written as n8n expects. */
export class TriggerStore {
	constructor(private readonly data: IDataObject) {
		if (data.version !== STATE_VERSION) this.migrate();
	}

	/** Version 1 kept `cursors` (IMAP) and `graphCursors` (Graph) maps: carried over, nothing replayed. */
	private migrate(): void {
		const folders: Record<string, FolderState> = {};
		if (this.data.version === 1) {
			for (const map of [this.data.cursors, this.data.graphCursors]) {
				if (!map || typeof map !== 'object') continue;
				for (const [key, cursor] of Object.entries(map as IDataObject)) folders[key] = { cursor };
			}
		}
		this.data.version = STATE_VERSION;
		this.data.folders = folders as unknown as IDataObject;
		delete this.data.cursors;
		delete this.data.graphCursors;
	}

	/** The state of one folder (the same object until the next `set`). */
	get(key: string): FolderState | undefined {
		return (this.data.folders as unknown as Record<string, FolderState> | undefined)?.[key];
	}

	/** Replaces one folder's state by assigning a new top-level `folders` object (seen by n8n). */
	set(key: string, state: FolderState): void {
		const folders = (this.data.folders ?? {}) as unknown as Record<string, FolderState>;
		this.data.folders = { ...folders, [key]: JSON.parse(JSON.stringify(state)) } as IDataObject;
	}
}

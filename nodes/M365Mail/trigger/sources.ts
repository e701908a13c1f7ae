/**
 * The two sources of the delivery engine: an IMAP folder (UIDVALIDITY + UID) and a Graph folder
 * (delta). Each opens its connection on first use, so a poll skipped by single flight costs nothing.
 */
import type { FetchedMessage, MessageContent } from '../transport/imap/messages';
import {
	applyAction,
	fetchByIds,
	newestMessage,
	pollNewMessages,
	unreadAmong,
	type ImapCursor,
} from '../transport/imap/poll';
import type { ImapSessionOptions } from '../transport/imap/session';
import { openImapSession } from '../transport/imap/session';
import type { GraphClient } from '../transport/graph/client';
import { newestGraphMessage } from '../transport/graph/mail';
import {
	applyGraphAction,
	fetchGraphByIds,
	graphUnreadAmong,
	pollGraph,
	type GraphCursor,
} from '../transport/graph/poll';
import type { MessageFilters } from '../transport/types';
import type { MailSource } from './engine';

export interface SourceSettings {
	mailbox: string;
	folder: string;
	filters: MessageFilters;
	content: MessageContent;
	full: boolean;
	keepRaw: boolean;
}

export interface ClosableSource<C> extends MailSource<C> {
	close(): Promise<void>;
}

export function imapSource(
	session: ImapSessionOptions,
	settings: SourceSettings,
): ClosableSource<ImapCursor> {
	let opened: ReturnType<typeof openImapSession> | undefined;
	const client = async () => await (opened ??= openImapSession(session));
	const { mailbox, folder } = settings;
	return {
		sample: async () => await newestMessage(await client(), settings),
		next: async (cursor, request) => {
			const outcome = await pollNewMessages(await client(), { ...settings, ...request, cursor });
			return {
				messages: outcome.messages,
				cursor: outcome.cursor,
				more: outcome.more,
				baseline: outcome.baseline === 'first',
				reset: outcome.baseline === 'uidValidityChanged' ? 'uidValidityChanged' : undefined,
				skipped: outcome.skippedTooLarge.map((s) => ({
					id: `UID ${s.uid} in ${folder}`,
					reason: `${s.size ?? 'more than the limit of'} bytes, over the size limit`,
				})),
			};
		},
		apply: async (action, ids) => await applyAction(await client(), mailbox, folder, action, ids),
		stillUnread: async (ids) => await unreadAmong(await client(), mailbox, folder, ids),
		fetch: async (ids) => await fetchByIds(await client(), settings, ids),
		close: async () => {
			if (!opened) return;
			const c = await opened.catch(() => undefined);
			await c?.logout().catch(() => c.close());
		},
	};
}

export function graphSource(
	graph: GraphClient,
	settings: SourceSettings,
): ClosableSource<GraphCursor> {
	const { folder } = settings;
	return {
		sample: async (): Promise<FetchedMessage | undefined> =>
			await newestGraphMessage(graph, settings),
		next: async (cursor, request) => {
			return await pollGraph(graph, { ...settings, ...request, cursor });
		},
		apply: async (action, ids) => await applyGraphAction(graph, folder, action, ids),
		stillUnread: async (ids) => await graphUnreadAmong(graph, folder, ids),
		fetch: async (ids) => await fetchGraphByIds(graph, settings, ids),
		close: async () => undefined,
	};
}

/**
 * Reading the messages a Graph poll emits, with their bodies: the first twenty by id in one JSON
 * batch, the rest listed by received time in windows of up to a hundred (`listWindow`), sized from
 * what the messages read so far weighed so that a window's bodies fit in what is left of the poll's
 * memory budget. Delta pages carry no body (transport/graph/poll.ts).
 */
import { MailServiceError } from '../auth/errors';
import type { MessageFilters } from '../types';
import { GRAPH_BATCH_LIMIT, type GraphClient } from './client';
import { MESSAGE_SELECT, SIZE_EXPAND, type GraphMessage, type SizedMessage } from './messages';

/** Graph writes received times to the second: compare as times, never as strings. */
export const receivedAt = (m: { receivedDateTime?: string }) =>
	Date.parse(m.receivedDateTime ?? '') || 0;

/**
 * The messages as they are emitted (body included, with their size when a size limit applies), read
 * in JSON batches of 20: one request for twenty messages, not one each.
 */
async function readForEmit(
	client: GraphClient,
	ids: string[],
	withSize: boolean,
): Promise<Array<SizedMessage | MailServiceError>> {
	const query: Record<string, string> = { $select: MESSAGE_SELECT };
	if (withSize) query.$expand = SIZE_EXPAND;
	return await client.getMany<SizedMessage>(
		ids.map((id) => ({ path: `/messages/${encodeURIComponent(id)}`, query })),
	);
}

/** The most messages one listing by received time reads (Graph's `$top` for messages goes to 1000). */
const WINDOW_LIMIT = 100;

/** Graph writes received times to the second: a window's bounds are whole seconds. */
const toSecond = (ms: number) =>
	new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/**
 * Messages to emit, with their bodies (and size when a size limit applies), listed by received time:
 * the folder's unread mail received from the first of `wanted` up to the second after the last,
 * as many a page as `wanted` holds (WINDOW_LIMIT at most). One request reads up to a hundred
 * bodies, where a JSON batch reads twenty and Graph counts each of those twenty against the
 * mailbox's throttling limits. Returned: the listed messages that are wanted or `later` (to emit
 * after these in the same poll). The listing may also hold unread mail that is neither (emitted
 * before, or not yet on this poll's delta pages); a page where that is the greater part ends it,
 * with `dense` false, so few bodies are read for nothing.
 * A wanted message not listed (read, moved or deleted since its delta page) is for the caller to
 * read by id, which tells those apart: none is dropped on the listing's word.
 */
async function listWindow(
	client: GraphClient,
	folderId: string,
	wanted: GraphMessage[],
	later: Set<string>,
	withSize: boolean,
): Promise<{ listed: Map<string, SizedMessage>; dense: boolean }> {
	const times = wanted.map(receivedAt);
	const query: Record<string, string> = {
		$filter: `receivedDateTime ge ${toSecond(Math.min(...times))} and receivedDateTime lt ${toSecond(Math.max(...times) + 1000)} and isRead eq false`,
		// Oldest first, so the first page holds the first of `wanted`; Graph takes the sort because the
		// filter starts with the same property (it refuses it otherwise: InefficientFilter).
		$orderby: 'receivedDateTime asc',
		$select: MESSAGE_SELECT,
		// A page holds no more bodies than the caller sized the window for (its memory budget).
		$top: String(Math.min(wanted.length, WINDOW_LIMIT)),
	};
	if (withSize) query.$expand = SIZE_EXPAND;
	const ids = new Set(wanted.map((m) => m.id));
	const listed = new Map<string, SizedMessage>();
	let found = 0;
	for await (const page of client.pages<SizedMessage>({
		path: `/mailFolders/${encodeURIComponent(folderId)}/messages`,
		query,
	})) {
		let useful = 0;
		for (const m of page.value) {
			if (listed.has(m.id) || !(ids.has(m.id) || later.has(m.id))) continue;
			listed.set(m.id, m);
			useful++;
			if (ids.has(m.id)) found++;
		}
		if (found === ids.size) return { listed, dense: true };
		if (useful * 2 < page.value.length) return { listed, dense: false };
	}
	return { listed, dense: true };
}

/** Reads the bodies of one poll's messages, chunk by chunk (see the top of this file). */
export class BodyReader {
	/** Listings are used while they are dense; with a filter of the user's, never. */
	private windows: boolean;
	/** Listed with an earlier chunk, to emit later in this poll. */
	private readonly prefetched = new Map<string, SizedMessage>();

	constructor(
		private readonly client: GraphClient,
		private readonly folderId: string,
		filters: MessageFilters,
		private readonly withSize: boolean,
	) {
		// A listing would also carry the unread mail a filter of the user's leaves out.
		const f = filters;
		this.windows = ![
			f.from?.length,
			f.to?.length,
			f.cc?.length,
			f.toOrCc?.length,
			f.subjectContains,
			f.importance,
			f.hasAttachments !== undefined,
			f.receivedAfter,
			f.receivedBefore,
			f.search,
		].some(Boolean);
	}

	/**
	 * How many messages the next chunk should take: twenty (one JSON batch) until a message has been
	 * read, then as many of `average` bytes as fit in `room` (at least one), up to a hundred while
	 * listings are used and twenty otherwise.
	 */
	chunkSize(average: number, room: number): number {
		const fit = average > 0 ? Math.max(1, Math.floor(room)) : GRAPH_BATCH_LIMIT;
		return Math.min(fit, this.windows ? WINDOW_LIMIT : GRAPH_BATCH_LIMIT);
	}

	/**
	 * The chunk's messages as they are now, aligned with it (a MailServiceError for one Graph would
	 * not read). `later`: the messages this poll may emit after the chunk, which a listing may carry.
	 */
	async read(
		chunk: GraphMessage[],
		later: GraphMessage[],
	): Promise<Array<SizedMessage | MailServiceError>> {
		const ready = new Map<string, SizedMessage | MailServiceError>();
		for (const m of chunk) {
			const early = this.prefetched.get(m.id);
			if (early) ready.set(m.id, early);
			this.prefetched.delete(m.id);
		}
		const toRead = chunk.filter((m) => !ready.has(m.id));
		if (this.windows && toRead.length > GRAPH_BATCH_LIMIT) {
			const next = new Set(later.map((m) => m.id));
			const listing = await listWindow(this.client, this.folderId, toRead, next, this.withSize);
			this.windows = listing.dense;
			for (const [id, m] of listing.listed) (next.has(id) ? this.prefetched : ready).set(id, m);
		}
		const byId = chunk.filter((m) => !ready.has(m.id)).map((m) => m.id);
		for (const [i, m] of (await readForEmit(this.client, byId, this.withSize)).entries())
			ready.set(byId[i], m);
		return chunk.map((m) => ready.get(m.id)!);
	}
}

/**
 * Reading the messages a Graph poll emits, with their bodies: the first twenty by id in one JSON
 * batch, the rest listed by received time (`listWindow`) in windows of up to 999 (Microsoft's own
 * advice for paging messages with their bodies), each sized from what the messages read so far
 * weighed so that its bodies fit in what is left of the poll's memory budget. Before each listing,
 * the same window is listed by id alone (`runToList`): the listing with bodies skips the mail
 * before the first message wanted (emitted before and still unread, or received in the same second
 * as a burst), and is not sent where more than a tenth of what it would read is other mail; those
 * messages are read by id, as are those of a listing Graph fails to answer (a gateway timeout on a
 * large page, say), which is not sent again. Delta pages carry no body
 * (transport/graph/poll.ts).
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

/**
 * The most messages one listing reads: Graph's `$top` for messages goes to 1000, and Microsoft's
 * paging guide for the SDKs suggests up to 999 to save requests.
 */
const WINDOW_LIMIT = 999;

/** Graph writes received times to the second: a window's bounds are whole seconds. */
const toSecond = (ms: number) =>
	new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/**
 * The listing of the folder's unread mail received from the first of `wanted` up to the second
 * after the last, oldest first, as many a page as `wanted` holds (the caller keeps it to
 * WINDOW_LIMIT and to its memory budget).
 */
function windowRequest(folderId: string, wanted: GraphMessage[], select: string) {
	const times = wanted.map(receivedAt);
	const query: Record<string, string> = {
		$filter: `receivedDateTime ge ${toSecond(Math.min(...times))} and receivedDateTime lt ${toSecond(Math.max(...times) + 1000)} and isRead eq false`,
		// Oldest first, so the first page holds the first of `wanted`; Graph takes the sort because the
		// filter starts with the same property (it refuses it otherwise: InefficientFilter).
		$orderby: 'receivedDateTime asc',
		$select: select,
		$top: String(wanted.length),
	};
	return { path: `/mailFolders/${encodeURIComponent(folderId)}/messages`, query };
}

/** Where in its window's listing the wanted messages lie: list `top` from `skip`. */
interface Run {
	skip: number;
	top: number;
}

/**
 * The most pages of ids `runToList` reads of one window: a burst puts a thousand messages in one
 * second, and mail emitted before (still unread) comes first in the window.
 */
const PROBE_PAGES = 4;

/**
 * Where the window of `wanted` is worth listing with its bodies. The window is listed by id alone
 * (no body; pages of WINDOW_LIMIT, PROBE_PAGES at most) up to the end of the run that starts at its
 * first message wanted now and is as long as `wanted` at most. The run ends at its last message
 * wanted now or later in this poll (`keep`), and is worth listing when nine in ten of it at least
 * are such messages, so that at most a tenth of the bodies the listing reads are read for nothing.
 * The mail before the run (emitted before and still unread, or received in the same second in a
 * burst) is skipped. Undefined where no run is found, or none worth it.
 */
async function runToList(
	client: GraphClient,
	folderId: string,
	wanted: GraphMessage[],
	ids: Set<string>,
	keep: (id: string) => boolean,
): Promise<Run | undefined> {
	let skip = -1;
	const useful: boolean[] = [];
	let offset = 0;
	for (let pages = 0; pages < PROBE_PAGES; pages++) {
		const request = windowRequest(folderId, wanted, 'id');
		request.query.$top = String(WINDOW_LIMIT);
		if (offset > 0) request.query.$skip = String(offset);
		const page = await client.request<{ value: GraphMessage[] }>(request);
		for (const [i, m] of page.value.entries()) {
			if (skip < 0 && ids.has(m.id)) skip = offset + i;
			if (skip >= 0 && useful.length < wanted.length) useful.push(keep(m.id));
		}
		offset += page.value.length;
		if (page.value.length < WINDOW_LIMIT || useful.length >= wanted.length) break;
	}
	const top = useful.lastIndexOf(true) + 1;
	if (skip < 0 || top === 0) return undefined;
	const count = useful.slice(0, top).filter(Boolean).length;
	return count * 10 >= top * 9 ? { skip, top } : undefined;
}

/**
 * Messages to emit, with their bodies (and size when a size limit applies), listed by received time
 * (`windowRequest`): the run `runToList` found, one page. One request reads up to WINDOW_LIMIT
 * bodies, where a JSON batch reads twenty and Graph counts each of those twenty against the
 * mailbox's throttling limits. Returned: the listed messages that are wanted or `later` (to emit
 * after these in the same poll). A wanted message not on the page (read, moved or deleted since its
 * delta page, or where Graph orders the messages of one second otherwise than it did a moment
 * before) is for the caller to read by id, which tells those apart: none is dropped on the
 * listing's word.
 */
async function listWindow(
	client: GraphClient,
	folderId: string,
	wanted: GraphMessage[],
	run: Run,
	keep: (id: string) => boolean,
	withSize: boolean,
): Promise<Map<string, SizedMessage>> {
	const request = windowRequest(folderId, wanted, MESSAGE_SELECT);
	request.query.$top = String(run.top);
	if (run.skip > 0) request.query.$skip = String(run.skip);
	if (withSize) request.query.$expand = SIZE_EXPAND;
	const page = await client.request<{ value: SizedMessage[] }>(request);
	const listed = new Map<string, SizedMessage>();
	for (const m of page.value) if (keep(m.id)) listed.set(m.id, m);
	return listed;
}

/** Reads the bodies of one poll's messages, chunk by chunk (see the top of this file). */
export class BodyReader {
	/** Listings are used until one is not worth it or fails; with a filter of the user's, never. */
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
	 * read, then as many of `average` bytes as fit in `room` (at least one), up to WINDOW_LIMIT while
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
			const listed = await this.list(toRead, next);
			if (!listed) this.windows = false;
			for (const [id, m] of listed ?? []) (next.has(id) ? this.prefetched : ready).set(id, m);
		}
		const byId = chunk.filter((m) => !ready.has(m.id)).map((m) => m.id);
		for (const [i, m] of (await readForEmit(this.client, byId, this.withSize)).entries())
			ready.set(byId[i], m);
		return chunk.map((m) => ready.get(m.id)!);
	}

	/**
	 * The window listed with its bodies where `runToList` finds a run worth it; otherwise, or when
	 * Graph fails to answer (a 5xx, such as a gateway timeout on a large page, or a connection lost
	 * on every attempt), undefined: the messages are then read by id, and listings are not used
	 * again in this poll, nor after a page that did not hold what the ids before it showed. Other
	 * failures (sign-in, throttling) are the poll's.
	 */
	private async list(
		wanted: GraphMessage[],
		later: Set<string>,
	): Promise<Map<string, SizedMessage> | undefined> {
		const ids = new Set(wanted.map((m) => m.id));
		try {
			const keep = (id: string) => ids.has(id) || later.has(id);
			const run = await runToList(this.client, this.folderId, wanted, ids, keep);
			if (!run) return undefined;
			const listed = await listWindow(this.client, this.folderId, wanted, run, keep, this.withSize);
			// A page that did not hold what the ids showed (Graph ordered the second's mail otherwise,
			// or the mail changed in between): the rest of this poll is read by id.
			if (listed.size * 10 < run.top * 9) this.windows = false;
			return listed;
		} catch (error) {
			const unanswered =
				error instanceof MailServiceError &&
				(error.kind === 'network' || (error.kind === 'unknown' && (error.httpStatus ?? 0) >= 500));
			if (!unanswered) throw error;
			return undefined;
		}
	}
}

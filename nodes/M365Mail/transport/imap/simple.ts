/**
 * The simple output over IMAP: envelope, flags, the text and HTML bodies and a list of attachments,
 * never an attachment's bytes. Small messages are read whole in one FETCH and split here
 * (transport/mime/split.ts); large ones by the server's structure, with at most TEXT_LIMIT_BYTES of
 * each text part. Both ways give the same item (test/integration/split.test.ts).
 */
import type { BodyPart } from '../mime/decode';
import { decodeTextPart } from '../mime/decode';
import { messageFromEnvelope, summarizeStructure } from '../mime/parse';
import { htmlToPlainText } from '../mime/text';
import { splitTools } from '../mime/split';
import { TEXT_LIMIT_BYTES, type FetchedMessage } from '../types';
import { bulkFetchPipelined, type BulkRequest } from './bulk';
import {
	fetchAllChecked,
	fetchMetadata,
	fetchWhole,
	readInBulk,
	SOURCE_BATCH,
	wholeOf,
	type MessageMetadata,
	type WholeMessage,
	type OpenFolder,
} from './fetch';

type Summary = ReturnType<typeof summarizeStructure>;

/** The sections of a message's text and HTML parts ("1", "2.1"…): its layout. */
function partKey(summary: Summary): string[] {
	return [summary.textPart, summary.htmlPart]
		.filter((part): part is BodyPart => part !== undefined)
		.map((part) => summary.section(part));
}

/**
 * The structure summary of each message read by structure, and the messages grouped by layout (one
 * FETCH each); those with no text part are in no group.
 */
function layouts(metadata: MessageMetadata[]): {
	summaries: Map<number, Summary>;
	groups: Map<string, number[]>;
} {
	const summaries = new Map(metadata.map((m) => [m.uid, summarizeStructure(m.structure)]));
	const groups = new Map<string, number[]>();
	for (const m of metadata) {
		const key = partKey(summaries.get(m.uid)!).join(',');
		if (!key) continue;
		const uids = groups.get(key);
		if (uids) uids.push(m.uid);
		else groups.set(key, [m.uid]);
	}
	return { summaries, groups };
}

/** Our reader's FETCH of each layout's text parts, at most TEXT_LIMIT_BYTES of each. */
function partsRequests(groups: Map<string, number[]>): BulkRequest[] {
	return [...groups].map(([key, uids]) => ({
		uids,
		query: 'parts' as const,
		sections: key.split(','),
		maxLength: TEXT_LIMIT_BYTES,
	}));
}

/** The simple output of messages read by structure, from their downloaded text parts. */
async function summariesByStructure(
	metadata: MessageMetadata[],
	summaries: Map<number, Summary>,
	bodies: Map<number, Map<string, Buffer>>,
): Promise<FetchedMessage[]> {
	const result: FetchedMessage[] = [];
	for (const m of metadata) {
		const parts = bodies.get(m.uid);
		const summary = summaries.get(m.uid)!;
		result.push(
			await summaryOf(m, summary, (part) => parts?.get(summary.section(part).toLowerCase())),
		);
	}
	return result;
}

/** Summaries with text and HTML bodies, downloading only the text parts (grouped by part number). */
async function fetchSummariesByStructure(
	open: OpenFolder,
	metadata: MessageMetadata[],
): Promise<FetchedMessage[]> {
	const { summaries, groups } = layouts(metadata);
	const bodies = new Map<number, Map<string, Buffer>>();
	if (readInBulk(open, [...groups.values()].flat())) {
		// One FETCH per layout, all written at once and read by our own reader: one round trip.
		for await (const batch of bulkFetchPipelined(open.client, partsRequests(groups)))
			for (const m of batch) bodies.set(m.uid, m.parts ?? new Map());
	} else {
		for (const [key, uids] of groups) {
			// A partial FETCH: a sender's 100 MB "text" part costs TEXT_LIMIT_BYTES at most.
			const parts = key.split(',').map((part) => ({ key: part, maxLength: TEXT_LIMIT_BYTES }));
			const fetched = await fetchAllChecked(
				open,
				uids,
				{ uid: true, bodyParts: parts as unknown as string[] },
				'reading message bodies',
			);
			// Keyed by section in lower case ("1.text"), however the server spelled it.
			for (const m of fetched)
				bodies.set(m.uid, new Map([...(m.bodyParts ?? [])].map(([k, v]) => [k.toLowerCase(), v])));
		}
	}
	return await summariesByStructure(metadata, summaries, bodies);
}

/**
 * Small messages whole and the text parts of large ones in one download: the large ones' structure
 * first (imapflow), then the FETCH of the small ones and one per layout of the large ones, all
 * written at once and read by our reader as they come (one round trip where reading them in turn
 * took two). Small messages are made into items as they arrive, as fetchWholeSummaries does; the
 * large ones' text parts are kept until the download ends (at most TEXT_LIMIT_BYTES a part, and
 * within the poll's budget, which counts the whole messages).
 */
async function fetchPipelined(
	open: OpenFolder,
	whole: number[],
	large: number[],
): Promise<FetchedMessage[]> {
	const metadata = await fetchMetadata(open, large);
	const { summaries, groups } = layouts(metadata);
	const requests: BulkRequest[] = [
		{ uids: [...whole].sort((a, b) => a - b), query: 'whole' },
		...partsRequests(groups),
	];
	const tools = await splitTools();
	const result: FetchedMessage[] = [];
	const bodies = new Map<number, Map<string, Buffer>>();
	for await (const batch of bulkFetchPipelined(open.client, requests)) {
		for (const m of batch) {
			if (m.parts) bodies.set(m.uid, m.parts);
			else if (m.source)
				result.push(await wholeSummary(wholeOf(open, tools, { ...m, source: m.source })));
		}
	}
	result.push(...(await summariesByStructure(metadata, summaries, bodies)));
	return result;
}

/** The simple output of one message, from its structure and a reader of its text parts' bodies. */
async function summaryOf(
	m: MessageMetadata,
	summary: Summary,
	bodyOf: (part: BodyPart) => Buffer | undefined,
): Promise<FetchedMessage> {
	const message = messageFromEnvelope(m.envelope, m.headers);
	const read = (part: BodyPart | undefined) => (part ? decodeTextPart(part, bodyOf(part)) : null);
	message.text = read(summary.textPart);
	message.html = read(summary.htmlPart);
	if ([summary.textPart, summary.htmlPart].some((p) => (p?.size ?? 0) > TEXT_LIMIT_BYTES))
		message.truncated = true;
	message.attachments = summary.attachments;
	message.hasAttachments = summary.attachments.some((a) => !a.inline);
	// HTML-only mail still gets a text rendering, as the parsed outputs have.
	if (message.text === null && message.html) message.text = await htmlToPlainText(message.html);
	return { message, attachments: [] };
}

/**
 * Messages up to this size are read whole for the simple output (one FETCH each, split here): the
 * server's ENVELOPE and BODYSTRUCTURE cost more to parse than such a message costs to download.
 * Larger ones are read by structure, with at most TEXT_LIMIT_BYTES of each text part: a message
 * this large is mostly attachments or images, which the simple output never decodes, so its text
 * parts alone are far fewer bytes to send (bench/README.md: with this limit at TEXT_LIMIT_BYTES, the
 * bench's drain read its mail with a 200 KB attachment whole, and took about a fifth longer).
 */
export const WHOLE_MESSAGE_LIMIT = 64 * 1024;

/** The simple output of a message downloaded whole, from its split. */
async function wholeSummary({ metadata, split }: WholeMessage): Promise<FetchedMessage> {
	return await summaryOf(metadata, summarizeStructure(split.structure), split.body);
}

/** The simple output of small messages from one download each (transport/mime/split.ts). */
async function fetchWholeSummaries(open: OpenFolder, uids: number[]): Promise<FetchedMessage[]> {
	const result: FetchedMessage[] = [];
	for await (const whole of fetchWhole(open, uids)) result.push(await wholeSummary(whole));
	return result;
}

/**
 * The simple output of the selected messages (sizes known), oldest first: small ones read whole,
 * large ones by structure. Read by our own reader (20 messages or more), the small ones and the
 * large ones' text parts come in one download (fetchPipelined).
 */
export async function fetchSimpleMessages(
	open: OpenFolder,
	selected: Array<{ uid: number; size: number }>,
): Promise<FetchedMessage[]> {
	const whole = selected.filter((m) => m.size <= WHOLE_MESSAGE_LIMIT).map((m) => m.uid);
	const large = selected.filter((m) => m.size > WHOLE_MESSAGE_LIMIT).map((m) => m.uid);
	let result: FetchedMessage[];
	if (whole.length && large.length && readInBulk(open, [...whole, ...large]))
		result = await fetchPipelined(open, whole, large);
	else {
		result = await fetchWholeSummaries(open, whole);
		if (large.length)
			result.push(...(await fetchSummaries(open, await fetchMetadata(open, large))));
	}
	return result.sort((a, b) => (a.message.uid ?? 0) - (b.message.uid ?? 0));
}

/** The simple output by structure, in batches: a poll of hundreds must not hold them all at once. */
export async function fetchSummaries(
	open: OpenFolder,
	metadata: MessageMetadata[],
): Promise<FetchedMessage[]> {
	const result: FetchedMessage[] = [];
	for (let i = 0; i < metadata.length; i += SOURCE_BATCH * 2)
		result.push(
			...(await fetchSummariesByStructure(open, metadata.slice(i, i + SOURCE_BATCH * 2))),
		);
	return result;
}

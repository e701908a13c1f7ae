/**
 * The action node's operations over Microsoft Graph: the same parameters and item shapes as over
 * IMAP; the message id is Graph's immutable id (it stays the same when the message moves).
 */
import type { IBinaryData, IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { graphClientFor, type MailConnection } from '../transport/connection';
import type { GraphClient } from '../transport/graph/client';
import {
	createGraphFolder,
	deleteGraphMessage,
	downloadGraphAttachment,
	fetchGraphContent,
	getGraphMessage,
	graphFolderPath,
	graphMatches,
	listGraphAttachments,
	listGraphFolders,
	messageFromGraph,
	moveGraphMessage,
	resolveGraphFolder,
	searchGraphMessages,
	setGraphCategories,
	setGraphFlag,
	setGraphRead,
} from '../transport/graph/mail';
import { folderValue } from './descriptions';
import { chooseAttachments } from './attachment/download.operation';
import { readOutputOptions } from './message/get.operation';
import { graphMessageId } from './message/helpers';
import { readCategories, readFlagDates } from './message/graphOnly';
import { readSearch } from './message/getAll.operation';
import { contentFor, toItem } from './output';

type GraphExecutor = (
	ctx: IExecuteFunctions,
	itemIndex: number,
	client: GraphClient,
) => Promise<INodeExecutionData[]>;

const paired = (itemIndex: number, json: IDataObject, binary?: Record<string, IBinaryData>) => ({
	json,
	...(binary ? { binary } : {}),
	pairedItem: { item: itemIndex },
});

/** Where the message is now (its folder path), for the result item. */
async function located(client: GraphClient, id: string) {
	const message = await getGraphMessage(client, id);
	return { message, folder: await graphFolderPath(client, message.parentFolderId) };
}

async function result(
	client: GraphClient,
	id: string,
	extra: IDataObject = {},
): Promise<IDataObject> {
	const { message, folder } = await located(client, id);
	const simple = messageFromGraph(message, client.mailbox, folder);
	return {
		id,
		mailbox: client.mailbox,
		folder,
		isRead: simple.isRead,
		isFlagged: simple.isFlagged,
		flagStatus: message.flag?.flagStatus ?? 'notFlagged',
		...(message.flag?.dueDateTime
			? {
					flagDue:
						message.flag.dueDateTime.timeZone === 'UTC'
							? `${message.flag.dueDateTime.dateTime.replace(/Z?$/, 'Z')}`
							: message.flag.dueDateTime.dateTime,
				}
			: {}),
		categories: message.categories ?? [],
		...extra,
	};
}

const prepare = (ctx: IExecuteFunctions) => async (data: Buffer, name: string, mime: string) =>
	await ctx.helpers.prepareBinaryData(data, name, mime);

const transfer =
	(mode: 'move' | 'copy'): GraphExecutor =>
	async (ctx, itemIndex, client) => {
		const id = graphMessageId(ctx, itemIndex);
		const destination = await resolveGraphFolder(
			client,
			folderValue(ctx.getNodeParameter('destination', itemIndex)),
		);
		const moved = await moveGraphMessage(client, id, destination.id, mode);
		return [
			paired(itemIndex, {
				id: moved.id,
				mailbox: client.mailbox,
				folder: destination.path,
				[mode === 'move' ? 'movedFrom' : 'copiedFrom']: id,
			}),
		];
	};

const flagChange =
	(
		change: (
			client: GraphClient,
			id: string,
			ctx: IExecuteFunctions,
			itemIndex: number,
		) => Promise<void>,
	): GraphExecutor =>
	async (ctx, itemIndex, client) => {
		const id = graphMessageId(ctx, itemIndex);
		await change(client, id, ctx, itemIndex);
		return [paired(itemIndex, await result(client, id))];
	};

export const GRAPH_OPERATIONS: Record<string, Record<string, GraphExecutor>> = {
	message: {
		get: async (ctx, itemIndex, client) => {
			const id = graphMessageId(ctx, itemIndex);
			const output = readOutputOptions(ctx, itemIndex);
			const { message, folder } = await located(client, id);
			const fetched = await fetchGraphContent(
				client,
				message,
				client.mailbox,
				folder,
				contentFor(output),
				{
					full: output.output === 'full',
					keepRaw: output.output === 'raw',
				},
			);
			const item = await toItem(fetched, output, prepare(ctx));
			return [{ ...item, pairedItem: { item: itemIndex } }];
		},
		getAll: async (ctx, itemIndex, client) => {
			const { filters, limit } = readSearch(ctx, itemIndex);
			const output = readOutputOptions(ctx, itemIndex);
			const folder = await resolveGraphFolder(
				client,
				folderValue(ctx.getNodeParameter('folder', itemIndex)),
			);
			const items: INodeExecutionData[] = [];
			for await (const page of searchGraphMessages(client, folder, filters, Math.min(limit, 100))) {
				for (const m of page) {
					if (items.length >= limit) break;
					if (!graphMatches(messageFromGraph(m, client.mailbox, folder.path), filters)) continue;
					const fetched = await fetchGraphContent(
						client,
						m,
						client.mailbox,
						folder.path,
						contentFor(output),
						{
							full: output.output === 'full',
							keepRaw: output.output === 'raw',
						},
					);
					items.push({
						...(await toItem(fetched, output, prepare(ctx))),
						pairedItem: { item: itemIndex },
					});
				}
				if (items.length >= limit) break;
			}
			return items;
		},
		move: transfer('move'),
		copy: transfer('copy'),
		delete: async (ctx, itemIndex, client) => {
			const id = graphMessageId(ctx, itemIndex);
			const permanent = ctx.getNodeParameter('permanent', itemIndex) as boolean;
			if (permanent) await deleteGraphMessage(client, id);
			else
				await moveGraphMessage(
					client,
					id,
					(await resolveGraphFolder(client, 'deleteditems')).id,
					'move',
				);
			return [paired(itemIndex, { id, mailbox: client.mailbox, deleted: true, permanent })];
		},
		markAsRead: flagChange((client, id) => setGraphRead(client, id, true)),
		markAsUnread: flagChange((client, id) => setGraphRead(client, id, false)),
		flag: flagChange(
			async (client, id, ctx, itemIndex) =>
				await setGraphFlag(client, id, 'flagged', readFlagDates(ctx, itemIndex)),
		),
		unflag: flagChange((client, id) => setGraphFlag(client, id, 'notFlagged')),
		complete: flagChange((client, id) => setGraphFlag(client, id, 'complete')),
		setCategories: async (ctx, itemIndex, client) => {
			const id = graphMessageId(ctx, itemIndex);
			const { categories, mode } = readCategories(ctx, itemIndex);
			const now = await setGraphCategories(client, id, categories, mode);
			return [paired(itemIndex, await result(client, id, { categories: now }))];
		},
	},
	folder: {
		getAll: async (ctx, itemIndex, client) => {
			let folders = await listGraphFolders(client);
			if (!(ctx.getNodeParameter('returnAll', itemIndex) as boolean)) {
				folders = folders.slice(0, ctx.getNodeParameter('limit', itemIndex) as number);
			}
			return folders.map((f) =>
				paired(itemIndex, {
					mailbox: client.mailbox,
					path: f.path,
					name: f.name,
					wellKnownName: f.wellKnownName ?? null,
					id: f.id,
				}),
			);
		},
		create: async (ctx, itemIndex, client) => {
			const { folder, created } = await createGraphFolder(
				client,
				String(ctx.getNodeParameter('path', itemIndex)),
			);
			return [
				paired(itemIndex, {
					mailbox: client.mailbox,
					path: folder.path,
					name: folder.name,
					id: folder.id,
					created,
				}),
			];
		},
	},
	attachment: {
		getAll: async (ctx, itemIndex, client) => {
			const id = graphMessageId(ctx, itemIndex);
			const list = await listGraphAttachments(client, id);
			return list.map((a) =>
				paired(itemIndex, {
					index: a.index,
					filename: a.filename,
					contentType: a.contentType,
					size: a.size,
					contentId: a.contentId ?? null,
					inline: a.inline,
					message: id,
					mailbox: client.mailbox,
				}),
			);
		},
		download: async (ctx, itemIndex, client) => {
			const id = graphMessageId(ctx, itemIndex);
			const prefix = ctx.getNodeParameter('prefix', itemIndex) as string;
			const chosen = chooseAttachments(ctx, itemIndex, await listGraphAttachments(client, id));
			const binary: Record<string, IBinaryData> = {};
			const files: IDataObject[] = [];
			for (const [n, a] of chosen.entries()) {
				const content = await downloadGraphAttachment(client, id, a.graphId, a.index);
				binary[`${prefix}${n}`] = await ctx.helpers.prepareBinaryData(
					content.content,
					content.filename,
					content.contentType,
				);
				files.push({ index: a.index, filename: a.filename, binaryProperty: `${prefix}${n}` });
			}
			return [paired(itemIndex, { id, mailbox: client.mailbox, attachments: files }, binary)];
		},
	},
};

/**
 * One Graph client per mailbox for a whole execution, so the folder list is read once, not per item
 * (the Graph counterpart of ImapSessions).
 */
export class GraphClients {
	private readonly clients = new Map<string, GraphClient>();

	constructor(private readonly connection: MailConnection) {}

	for(mailbox: string): GraphClient {
		const key = mailbox.toLowerCase();
		let client = this.clients.get(key);
		if (!client) {
			client = graphClientFor(this.connection, mailbox);
			this.clients.set(key, client);
		}
		return client;
	}
}

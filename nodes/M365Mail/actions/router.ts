/**
 * The only per-item loop: reads the credential once, opens each item's mailbox (one per address for
 * the whole run), runs the operation, and owns continueOnFail and pairedItem. It chooses nothing by
 * transport: every operation is written once against the Mailbox interface.
 */
import {
	SEND_AND_WAIT_OPERATION,
	type IExecuteFunctions,
	type INodeExecutionData,
} from 'n8n-workflow';

import { connectNode, resolveMailbox } from '../shared/connection';
import { toNodeError } from '../shared/errors';
import type { MailConnection } from '../transport/connection';
import type { Mailbox } from '../transport/mailbox';
import { Mailboxes } from '../transport/open';
import * as attachmentDownload from './attachment/download.operation';
import * as attachmentGetAll from './attachment/getAll.operation';
import * as folderCreate from './folder/create.operation';
import * as folderDelete from './folder/delete.operation';
import * as folderGet from './folder/get.operation';
import * as folderGetAll from './folder/getAll.operation';
import * as folderMove from './folder/move.operation';
import * as folderRename from './folder/rename.operation';
import * as messageComplete from './message/complete.operation';
import * as messageCopy from './message/copy.operation';
import * as messageCreateDraft from './message/createDraft.operation';
import * as messageDelete from './message/delete.operation';
import * as messageFlag from './message/flag.operation';
import * as messageForward from './message/forward.operation';
import * as messageGet from './message/get.operation';
import * as messageGetAll from './message/getAll.operation';
import * as messageMarkAsRead from './message/markAsRead.operation';
import * as messageMarkAsUnread from './message/markAsUnread.operation';
import * as messageMove from './message/move.operation';
import * as messageReply from './message/reply.operation';
import * as messageSend from './message/send.operation';
import { sendForResponse, waitTill } from './message/sendAndWait.operation';
import * as messageSendDraft from './message/sendDraft.operation';
import * as messageSetCategories from './message/setCategories.operation';
import * as messageUnflag from './message/unflag.operation';
import type { OperationExecutor } from './types';

export const OPERATIONS: Record<string, Record<string, OperationExecutor>> = {
	message: {
		send: messageSend.execute,
		createDraft: messageCreateDraft.execute,
		sendDraft: messageSendDraft.execute,
		reply: messageReply.execute,
		forward: messageForward.execute,
		get: messageGet.execute,
		getAll: messageGetAll.execute,
		move: messageMove.execute,
		copy: messageCopy.execute,
		delete: messageDelete.execute,
		markAsRead: messageMarkAsRead.execute,
		markAsUnread: messageMarkAsUnread.execute,
		flag: messageFlag.execute,
		unflag: messageUnflag.execute,
		complete: messageComplete.execute,
		setCategories: messageSetCategories.execute,
	},
	folder: {
		get: folderGet.execute,
		getAll: folderGetAll.execute,
		create: folderCreate.execute,
		rename: folderRename.execute,
		move: folderMove.execute,
		delete: folderDelete.execute,
	},
	attachment: { getAll: attachmentGetAll.execute, download: attachmentDownload.execute },
};

export async function router(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const output: INodeExecutionData[] = [];
	const node = this.getNode();
	let connection: MailConnection;
	try {
		connection = await connectNode(this, (name, fallback) =>
			this.getNodeParameter(name, 0, fallback),
		);
	} catch (error) {
		throw toNodeError(node, error);
	}
	const mailboxes = new Mailboxes(connection, {
		warn: (message) => this.logger.warn(message),
		debug: (message) => this.logger.debug(message),
	});
	const mailboxOf = async (itemIndex: number) =>
		mailboxes.get(
			await resolveMailbox(
				node,
				connection,
				String(this.getNodeParameter('mailbox', itemIndex, '') ?? ''),
				itemIndex,
			),
		);
	try {
		if (
			this.getNodeParameter('resource', 0) === 'message' &&
			this.getNodeParameter('operation', 0) === SEND_AND_WAIT_OPERATION
		)
			return await sendAndWait(this, items, mailboxOf);
		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			try {
				const resource = this.getNodeParameter('resource', itemIndex) as string;
				const operation = this.getNodeParameter('operation', itemIndex) as string;
				const run = OPERATIONS[resource]?.[operation];
				if (!run) throw new Error(`The operation "${operation}" of "${resource}" is not supported`);
				output.push(...(await run.call(this, itemIndex, await mailboxOf(itemIndex))));
			} catch (error) {
				const nodeError = toNodeError(node, error, itemIndex);
				if (this.continueOnFail()) {
					output.push({
						json: {
							error: nodeError.message,
							description: (nodeError as { description?: string }).description ?? null,
						},
						pairedItem: { item: itemIndex },
					});
					continue;
				}
				throw nodeError;
			}
		}
	} finally {
		await mailboxes.closeAll();
	}
	return [output];
}

/**
 * Send and Wait for Response: one message for the execution (from the first item), then n8n waits
 * for the answer, which becomes the node's output; if the time limit passes first, these items.
 */
async function sendAndWait(
	ctx: IExecuteFunctions,
	items: INodeExecutionData[],
	mailboxOf: (itemIndex: number) => Promise<Mailbox>,
): Promise<INodeExecutionData[][]> {
	try {
		const until = waitTill(ctx);
		await sendForResponse(ctx, await mailboxOf(0));
		await ctx.putExecutionToWait(until);
	} catch (error) {
		const nodeError = toNodeError(ctx.getNode(), error, 0);
		if (!ctx.continueOnFail()) throw nodeError;
		const description = (nodeError as { description?: string }).description ?? null;
		return [[{ json: { error: nodeError.message, description }, pairedItem: { item: 0 } }]];
	}
	return [items];
}

/** The only per-item loop: resolves the connection once, runs the operation, owns continueOnFail. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { connectionFromContext } from '../transport/connection';
import * as attachmentDownload from './attachment/download.operation';
import * as attachmentGetAll from './attachment/getAll.operation';
import {
	credentialTypeOf,
	resolveMailbox,
	toNodeError,
	transportOf,
	type OperationExecutor,
} from './common';
import { GRAPH_OPERATIONS, GraphClients } from './graph';
import * as folderCreate from './folder/create.operation';
import * as folderGetAll from './folder/getAll.operation';
import * as messageComplete from './message/complete.operation';
import * as messageCopy from './message/copy.operation';
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
import * as messageSetCategories from './message/setCategories.operation';
import * as messageUnflag from './message/unflag.operation';
import { ImapSessions } from './sessions';

export const OPERATIONS: Record<string, Record<string, OperationExecutor>> = {
	message: {
		send: messageSend.execute,
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
	folder: { getAll: folderGetAll.execute, create: folderCreate.execute },
	attachment: { getAll: attachmentGetAll.execute, download: attachmentDownload.execute },
};

export async function router(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const output: INodeExecutionData[] = [];
	const node = this.getNode();
	const authentication = this.getNodeParameter('authentication', 0) as string;
	let connection;
	try {
		connection = await connectionFromContext(this, credentialTypeOf(authentication));
		connection.transport = transportOf(connection, (name, fallback) =>
			this.getNodeParameter(name, 0, fallback),
		);
	} catch (error) {
		throw toNodeError(node, error);
	}
	const sessions = new ImapSessions(connection);
	const graphClients = new GraphClients(connection);
	try {
		for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
			const resource = this.getNodeParameter('resource', itemIndex) as string;
			const operation = this.getNodeParameter('operation', itemIndex) as string;
			try {
				const graph =
					connection.transport === 'graph' ? GRAPH_OPERATIONS[resource]?.[operation] : undefined;
				if (graph) {
					const mailbox = await resolveMailbox(
						node,
						connection,
						String(this.getNodeParameter('mailbox', itemIndex, '') ?? ''),
						itemIndex,
					);
					output.push(...(await graph(this, itemIndex, graphClients.for(mailbox))));
					continue;
				}
				// Send composes MIME once and hands it to SMTP or to Graph's sendMail.
				const run = OPERATIONS[resource]?.[operation];
				if (!run) throw new Error(`The operation "${operation}" of "${resource}" is not supported`);
				output.push(...(await run.call(this, itemIndex, connection, sessions)));
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
		await sessions.closeAll();
	}
	return [output];
}

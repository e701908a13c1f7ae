/**
 * The trigger's poll: per mailbox+folder cursor in the node's static data (versioned), advanced only
 * with the messages it emits. Errors are thrown in manual mode, on the first poll, and whenever the
 * user has to act (reconnect, consent, permissions, a folder gone), so that n8n records a failed
 * execution; passing trouble (network, throttling) is only logged, and the next poll tries again.
 */
import type { IDataObject, INodeExecutionData, IPollFunctions } from 'n8n-workflow';

import { credentialTypeOf, resolveMailbox, toNodeError, transportOf } from '../actions/common';
import { newestGraphMessage, pollGraph, type GraphCursor } from '../transport/graph/mail';
import { filtersFrom, folderValue } from '../actions/descriptions';
import { contentFor, toItem, type OutputFormat, type OutputOptions } from '../actions/output';
import { connectionFromContext, graphClientFor } from '../transport/connection';
import {
	newestMessage,
	pollNewMessages,
	type AfterEmit,
	type ImapCursor,
} from '../transport/imap/poll';
import { openImapSession } from '../transport/imap/session';
import { MailServiceError, type MailErrorKind } from '../transport/auth/errors';

/** Trouble that passes by itself: logged, and the next poll tries again. */
const TRANSIENT_KINDS: MailErrorKind[] = ['network', 'throttled', 'syncState', 'unknown'];

const STATE_VERSION = 1;

interface TriggerState {
	version: number;
	/** Keyed by "mailbox|folder", lower-case. */
	cursors: Record<string, ImapCursor>;
	/** Graph delta links, keyed the same way. */
	graphCursors: Record<string, GraphCursor>;
}

function stateOf(staticData: IDataObject): TriggerState {
	if (staticData.version !== STATE_VERSION || typeof staticData.cursors !== 'object') {
		staticData.version = STATE_VERSION;
		staticData.cursors = {};
	}
	if (typeof staticData.graphCursors !== 'object') staticData.graphCursors = {};
	return staticData as unknown as TriggerState;
}

export async function pollTrigger(this: IPollFunctions): Promise<INodeExecutionData[][] | null> {
	const node = this.getNode();
	const manual = this.getMode() === 'manual';
	const state = stateOf(this.getWorkflowStaticData('node'));
	const folder = folderValue(this.getNodeParameter('folder'));
	const options = this.getNodeParameter('options', {}) as IDataObject;
	const output: OutputOptions = {
		output: this.getNodeParameter('output', 'simple') as OutputFormat,
		downloadAttachments: this.getNodeParameter('downloadAttachments', false) as boolean,
		attachmentPrefix: String(options.attachmentPrefix ?? 'attachment_'),
		includeInlineImages: options.includeInlineImages === true,
	};
	const filters = filtersFrom(this.getNodeParameter('filters', {}) as IDataObject);
	const maxSizeMb = Number(options.maxSizeMb ?? 50);
	if (maxSizeMb > 0) filters.maxSizeBytes = Math.round(maxSizeMb * 1024 * 1024);
	const afterEmitChoice = this.getNodeParameter('afterEmit', 'none') as AfterEmit['action'];
	const afterEmit: AfterEmit =
		afterEmitChoice === 'move'
			? { action: 'move', folder: folderValue(this.getNodeParameter('moveTo')) }
			: { action: afterEmitChoice };

	let key: string | undefined;
	try {
		const authentication = this.getNodeParameter('authentication') as string;
		const connection = await connectionFromContext(this, credentialTypeOf(authentication));
		const mailbox = await resolveMailbox(
			node,
			connection,
			this.getNodeParameter('mailbox') as string,
		);
		key = `${mailbox}|${folder}`.toLowerCase();
		const startFrom = this.getNodeParameter('startFrom', 'now') as 'now' | 'existing';
		const maxMessages = this.getNodeParameter('maxMessages', 50) as number;
		const prepareBinary = async (data: Buffer, name: string, mime: string) =>
			await this.helpers.prepareBinaryData(data, name, mime);
		if (
			transportOf(connection, (name, fallback) => this.getNodeParameter(name, fallback)) === 'graph'
		) {
			const graph = graphClientFor(connection, mailbox);
			const content = contentFor(output);
			const options = { full: output.output === 'full', keepRaw: output.output === 'raw' };
			if (manual) {
				const sample = await newestGraphMessage(graph, { folder, filters, content, ...options });
				return sample ? [[await toItem(sample, output, prepareBinary)]] : null;
			}
			const outcome = await pollGraph(graph, {
				folder,
				cursor: state.graphCursors[key],
				startFrom,
				filters,
				maxMessages,
				content,
				...options,
				afterEmit,
			});
			const items: INodeExecutionData[] = [];
			for (const fetched of outcome.messages)
				items.push(await toItem(fetched, output, prepareBinary));
			if (outcome.baseline === 'expired') {
				this.logger.warn(
					`The Graph delta state of ${folder} in ${mailbox} expired: watching from now on; mail that arrived meanwhile is not replayed.`,
				);
			}
			state.graphCursors[key] = outcome.cursor;
			return items.length ? [items] : null;
		}
		const client = await openImapSession({
			...connection,
			mailbox,
			onError: (error) => this.logger.debug(`IMAP connection error: ${error.message}`),
		});
		const prepare = async (data: Buffer, name: string, mime: string) =>
			await this.helpers.prepareBinaryData(data, name, mime);
		try {
			const content = contentFor(output);
			const full = output.output === 'full';
			const keepRaw = output.output === 'raw';
			if (manual) {
				// "Fetch Test Event": a sample, the cursor stays where it is.
				const sample = await newestMessage(client, {
					mailbox,
					folder,
					filters,
					content,
					full,
					keepRaw,
				});
				return sample ? [[await toItem(sample, output, prepare)]] : null;
			}
			const budget =
				typeof this.getPollBudgetMs === 'function' ? this.getPollBudgetMs() : 5 * 60_000;
			const outcome = await pollNewMessages(client, {
				mailbox,
				folder,
				cursor: state.cursors[key],
				startFrom,
				filters,
				maxMessages,
				content,
				full,
				keepRaw,
				afterEmit,
				// Leave a margin for building items and emitting them.
				deadline: Date.now() + Math.max(budget * 0.6, 10_000),
			});
			const items: INodeExecutionData[] = [];
			for (const fetched of outcome.messages) items.push(await toItem(fetched, output, prepare));
			for (const skipped of outcome.skippedTooLarge) {
				this.logger.warn(
					`Microsoft 365 Mail Trigger skipped message ${skipped.uid} in ${folder} (${skipped.size ?? 'more than the limit of'} bytes${skipped.size ? ', over the size limit' : ''})`,
				);
			}
			if (outcome.baseline === 'uidValidityChanged') {
				this.logger.warn(
					`Folder ${folder} of ${mailbox} was reset by the server (UIDVALIDITY changed): watching from the newest message on; earlier mail is not replayed.`,
				);
			}
			// Only now, with every item built, does the cursor move.
			state.cursors[key] = outcome.cursor;
			return items.length ? [items] : null;
		} finally {
			await client.logout().catch(() => client.close());
		}
	} catch (error) {
		const nodeError = toNodeError(node, error);
		const passing = !(error instanceof MailServiceError) || TRANSIENT_KINDS.includes(error.kind);
		if (manual || !key || (!state.cursors[key] && !state.graphCursors[key]) || !passing) {
			throw nodeError;
		}
		this.logger.error(
			`Microsoft 365 Mail Trigger: ${nodeError.message} (the next poll tries again)`,
			{
				description: (nodeError as { description?: string }).description,
			},
		);
		return null;
	}
}

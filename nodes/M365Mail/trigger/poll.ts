/**
 * The trigger's poll: reads the parameters, opens the mailbox's source of new mail and hands it
 * to the delivery engine (engine.ts), which owns the cursor, the owed actions and the failure rules.
 * "Fetch Test Event" (manual mode) returns the newest matching message and changes nothing.
 */
import {
	NodeApiError,
	NodeOperationError,
	type IDataObject,
	type INodeExecutionData,
	type IPollFunctions,
	type JsonObject,
} from 'n8n-workflow';

import { connectNode, resolveMailbox } from '../shared/connection';
import { filtersFrom, folderValue } from '../shared/descriptions';
import { toNodeError } from '../shared/errors';
import { readOptionsFor, toItem, type OutputFormat, type OutputOptions } from '../shared/output';
import type { Mailbox } from '../transport/mailbox';
import { openMailbox } from '../transport/open';
import { MAX_MESSAGE_BYTES, type AfterEmit } from '../transport/types';
import { deliver, type Delivery } from './engine';

/** n8n 2.x outside the durable scheduler gives a poll five minutes. */
const DEFAULT_BUDGET_MS = 5 * 60_000;

export async function pollTrigger(this: IPollFunctions): Promise<INodeExecutionData[][] | null> {
	const node = this.getNode();
	const manual = this.getMode() === 'manual';
	const folder = folderValue(this.getNodeParameter('folder'));
	const options = this.getNodeParameter('options', {}) as IDataObject;
	const output: OutputOptions = {
		output: this.getNodeParameter('output', 'simple') as OutputFormat,
		downloadAttachments: this.getNodeParameter('downloadAttachments', false) as boolean,
		attachmentPrefix: String(options.attachmentPrefix ?? 'attachment_'),
		includeInlineImages: options.includeInlineImages === true,
	};
	const afterEmitChoice = this.getNodeParameter('afterEmit', 'none') as AfterEmit['action'];
	const afterEmit: AfterEmit =
		afterEmitChoice === 'move'
			? { action: 'move', folder: folderValue(this.getNodeParameter('moveTo')) }
			: { action: afterEmitChoice };
	const redeliverAfterMinutes = Number(options.redeliverAfterMinutes ?? 0);
	if (!(redeliverAfterMinutes >= 0)) {
		throw new NodeOperationError(node, '"Emit Again If Still Unread After" must be 0 or more', {
			description: 'Set a number of minutes, or 0 to emit every message once.',
		});
	}

	let mailbox: Mailbox | undefined;
	try {
		const filters = filtersFrom(this.getNodeParameter('filters', {}) as IDataObject);
		const maxSizeMb = Number(options.maxSizeMb ?? 50);
		filters.maxSizeBytes =
			maxSizeMb > 0
				? Math.min(Math.round(maxSizeMb * 1024 * 1024), MAX_MESSAGE_BYTES)
				: MAX_MESSAGE_BYTES;
		const connection = await connectNode(this, (name, fallback) =>
			this.getNodeParameter(name, fallback),
		);
		const address = await resolveMailbox(
			node,
			connection,
			this.getNodeParameter('mailbox') as string,
		);
		// Nothing is opened until the engine needs it: a poll skipped by single flight costs nothing.
		mailbox = openMailbox(connection, address, {
			debug: (message) => this.logger.debug(message),
		});
		const source = mailbox.watch({ folder, filters, ...readOptionsFor(output) });
		const prepare = async (data: Buffer, name: string, mime: string) =>
			await this.helpers.prepareBinaryData(data, name, mime);

		if (manual) {
			const sample = await source.sample();
			return sample ? [[await toItem(sample, output, prepare)]] : null;
		}
		const budgetMs =
			typeof this.getPollBudgetMs === 'function' ? this.getPollBudgetMs() : DEFAULT_BUDGET_MS;
		const workflow = this.getWorkflow();
		const result = await deliver({
			flightKey: `${workflow.id ?? ''}:${node.id ?? node.name}`,
			staticData: this.getWorkflowStaticData('node'),
			key: `${address}|${folder}`.toLowerCase(),
			source,
			options: {
				afterEmit,
				startFrom: this.getNodeParameter('startFrom', 'now') as 'now' | 'existing',
				maxMessages: this.getNodeParameter('maxMessages', 50) as number,
				maxBytes: Math.max(Number(options.pollBudgetMb ?? 64), 1) * 1024 * 1024,
				budgetMs,
				redeliverAfterMs: redeliverAfterMinutes * 60_000,
				maxAttempts: Math.max(Number(options.maxAttempts ?? 3), 1),
			},
			build: async (fetched, delivery: Delivery) => {
				const item = await toItem(fetched, output, prepare);
				item.json.delivery = { ...delivery } as IDataObject;
				return item;
			},
			log: this.logger,
		});
		if (result.kind === 'items') return result.items.length ? [result.items] : null;
		if (result.kind === 'busy') return null;
		if (!result.trouble) throw toNodeError(node, result.error);
		const inner = toNodeError(node, result.error) as NodeApiError;
		const message = `${inner.message} (failing for ${result.trouble.count} polls in a row, since ${result.trouble.since})`;
		throw new NodeApiError(node, { message } as JsonObject, {
			message,
			description: inner.description ?? undefined,
		});
	} catch (error) {
		throw toNodeError(node, error);
	} finally {
		await mailbox?.close();
	}
}

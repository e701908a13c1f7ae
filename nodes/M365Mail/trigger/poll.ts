/**
 * The trigger's poll: reads the parameters, opens the mailbox's source of new mail and hands it
 * to the delivery engine (engine.ts), which owns the cursor, the owed actions and the failure rules.
 * "Fetch Test Event" (manual mode) returns the newest matching message and changes nothing.
 */
import {
	NodeApiError,
	type IDataObject,
	type INodeExecutionData,
	type IPollFunctions,
	type JsonObject,
} from 'n8n-workflow';

import { openNodeMailbox } from '../shared/connection';
import { toNodeError } from '../shared/errors';
import { readOptionsFor, toItem } from '../shared/output';
import type { Mailbox } from '../transport/mailbox';
import { deliver, type Delivery } from './engine';
import { readTriggerSettings } from './settings';

/** n8n 2.x outside the durable scheduler gives a poll five minutes. */
const DEFAULT_BUDGET_MS = 5 * 60_000;

export async function pollTrigger(this: IPollFunctions): Promise<INodeExecutionData[][] | null> {
	const node = this.getNode();
	const manual = this.getMode() === 'manual';
	let mailbox: Mailbox | undefined;
	try {
		const settings = readTriggerSettings(this);
		const { folder, output } = settings;
		const flightKey = `${this.getWorkflow().id ?? ''}:${node.id ?? node.name}`;
		// Nothing is opened until the engine needs it: a poll skipped by single flight costs nothing.
		// The IMAP session is kept for this trigger's next poll (transport/imap/kept.ts).
		mailbox = await openNodeMailbox(this, {
			debug: (message) => this.logger.debug(message),
			keepSessionAs: manual ? undefined : flightKey,
		});
		const { address } = mailbox;
		const source = mailbox.watch({ folder, filters: settings.filters, ...readOptionsFor(output) });
		const prepare = async (data: Buffer, name: string, mime: string) =>
			await this.helpers.prepareBinaryData(data, name, mime);

		if (manual) {
			const sample = await source.sample();
			return sample ? [[await toItem(sample, output, prepare)]] : null;
		}
		const budgetMs =
			typeof this.getPollBudgetMs === 'function' ? this.getPollBudgetMs() : DEFAULT_BUDGET_MS;
		const nodeKey = node.id ?? node.name;
		const key = `${address}|${folder}`.toLowerCase();
		const result = await deliver({
			flightKey,
			staticData: this.getWorkflowStaticData('node'),
			starts: {
				data: this.getWorkflowStaticData('global'),
				key: `${nodeKey}|${key}`.toLowerCase(),
			},
			key,
			source,
			options: { ...settings, budgetMs },
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

/** The trigger parameters both triggers read, checked before any connection. */
import {
	NodeOperationError,
	type IDataObject,
	type IPollFunctions,
	type ITriggerFunctions,
} from 'n8n-workflow';

import { filtersFrom, folderValue } from '../shared/descriptions';
import type { OutputFormat, OutputOptions } from '../shared/output';
import { MAX_MESSAGE_BYTES, type AfterEmit, type MessageFilters } from '../transport/types';

export interface TriggerSettings {
	folder: string;
	filters: MessageFilters;
	output: OutputOptions;
	afterEmit: AfterEmit;
	startFrom: 'now' | 'existing';
	maxMessages: number;
	/** Memory budget of one poll or catch-up, in bytes. */
	maxBytes: number;
	redeliverAfterMs: number;
	maxAttempts: number;
	options: IDataObject;
}

export function readTriggerSettings(ctx: IPollFunctions | ITriggerFunctions): TriggerSettings {
	const options = ctx.getNodeParameter('options', {}) as IDataObject;
	const afterEmitChoice = ctx.getNodeParameter('afterEmit', 'none') as AfterEmit['action'];
	const redeliverAfterMinutes = Number(options.redeliverAfterMinutes ?? 0);
	if (!(redeliverAfterMinutes >= 0)) {
		throw new NodeOperationError(
			ctx.getNode(),
			'The minutes before a message is emitted again must be 0 or more',
			{
				description: 'Set a number of minutes, or 0 to emit every message once.',
			},
		);
	}
	const filters = filtersFrom(ctx.getNodeParameter('filters', {}) as IDataObject);
	const maxSizeMb = Number(options.maxSizeMb ?? 50);
	filters.maxSizeBytes =
		maxSizeMb > 0
			? Math.min(Math.round(maxSizeMb * 1024 * 1024), MAX_MESSAGE_BYTES)
			: MAX_MESSAGE_BYTES;
	return {
		folder: folderValue(ctx.getNodeParameter('folder')),
		filters,
		output: {
			output: ctx.getNodeParameter('output', 'simple') as OutputFormat,
			downloadAttachments: ctx.getNodeParameter('downloadAttachments', false) as boolean,
			attachmentPrefix: String(options.attachmentPrefix ?? 'attachment_'),
			includeInlineImages: options.includeInlineImages === true,
		},
		afterEmit:
			afterEmitChoice === 'move'
				? { action: 'move', folder: folderValue(ctx.getNodeParameter('moveTo')) }
				: { action: afterEmitChoice },
		startFrom: ctx.getNodeParameter('startFrom', 'now') as 'now' | 'existing',
		maxMessages: ctx.getNodeParameter('maxMessages', 50) as number,
		maxBytes: Math.max(Number(options.pollBudgetMb ?? 64), 1) * 1024 * 1024,
		redeliverAfterMs: redeliverAfterMinutes * 60_000,
		maxAttempts: Math.max(Number(options.maxAttempts ?? 3), 1),
		options,
	};
}

/** Turns fetched messages into n8n items: JSON in the chosen format, attachments as binary. */
import type { IBinaryData, IDataObject, INodeExecutionData } from 'n8n-workflow';

import type { ReadOptions } from '../transport/mailbox';
import type { FetchedMessage, MessageContent } from '../transport/types';
import { safeFileName } from '../transport/mime/filename';

export type OutputFormat = 'simple' | 'full' | 'raw';

export interface OutputOptions {
	output: OutputFormat;
	downloadAttachments: boolean;
	attachmentPrefix: string;
	includeInlineImages: boolean;
}

export type PrepareBinary = (
	data: Buffer,
	fileName: string,
	mimeType: string,
) => Promise<IBinaryData>;

/** What to download for an output: the least that produces it. */
export function contentFor(
	options: Pick<OutputOptions, 'output' | 'downloadAttachments'>,
): MessageContent {
	if (options.downloadAttachments || options.output === 'full') return 'parsed';
	return options.output === 'raw' ? 'raw' : 'summary';
}

/** How much of each message the output needs, as a mailbox reads it. */
export function readOptionsFor(options: OutputOptions): ReadOptions {
	return {
		content: contentFor(options),
		full: options.output === 'full',
		keepRaw: options.output === 'raw',
		attachmentContent: Boolean(options.downloadAttachments),
	};
}

/** The raw message's file name, from its subject, by the attachment-name rule. */
function emlName(subject: string): string {
	const base = subject
		.replace(/[^\p{L}\p{N} ._-]+/gu, '')
		.trim()
		.slice(0, 80);
	return safeFileName(`${base || 'message'}.eml`, 0);
}

/** One item per message; pairedItem is added by the caller that knows the input item. */
export async function toItem(
	fetched: FetchedMessage,
	options: OutputOptions,
	prepareBinary: PrepareBinary,
): Promise<INodeExecutionData> {
	const message = {
		...fetched.message,
		attachments: fetched.message.attachments.map((a) => ({ ...a })),
	};
	const json: IDataObject = { ...message } as unknown as IDataObject;
	if (options.output === 'full' && fetched.full) Object.assign(json, fetched.full);
	const binary: Record<string, IBinaryData> = {};
	if (options.output === 'raw' && fetched.raw) {
		delete json.text;
		delete json.html;
		binary.raw = await prepareBinary(fetched.raw, emlName(message.subject), 'message/rfc822');
	}
	if (options.downloadAttachments) {
		let n = 0;
		const described = json.attachments as Array<IDataObject>;
		for (const attachment of fetched.attachments) {
			if (attachment.inline && !options.includeInlineImages) continue;
			const property = `${options.attachmentPrefix}${n++}`;
			binary[property] = await prepareBinary(
				attachment.content,
				attachment.filename,
				attachment.contentType,
			);
			const entry = described.find((a) => a.index === attachment.index);
			if (entry) entry.binaryProperty = property;
		}
	}
	return Object.keys(binary).length ? { json, binary } : { json };
}

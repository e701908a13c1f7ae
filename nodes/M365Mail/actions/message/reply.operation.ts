import type { INodeProperties } from 'n8n-workflow';

import { redactSecrets } from '../../transport/auth/errors';
import { automatedMailReason } from '../../transport/mime/parse';
import type { MailAddress } from '../../transport/types';
import { messageIdOf, messageIdProperty, prefixedSubject, quoteOriginal } from './helpers';
import { readSendOptions, saveAsDraftOption, sendOptions, sendOrDraft, textProperty } from './send';
import type { OperationExecutor } from '../types';

const show = { resource: ['message'], operation: ['reply'] };

export const description: INodeProperties[] = [
	messageIdProperty(['reply']),
	{
		displayName: 'Reply to All',
		name: 'replyAll',
		type: 'boolean',
		default: false,
		description: 'Whether to reply to the sender and every other recipient (To and Cc)',
		displayOptions: { show },
	},
	textProperty('reply', 'Plain-text reply (add an HTML reply under Options)'),
	sendOptions(
		['reply'],
		[
			{
				displayName: 'Include Original',
				name: 'includeOriginal',
				type: 'boolean',
				default: true,
				description: 'Whether to quote the original message below the reply',
			},
			saveAsDraftOption('reply'),
			{
				displayName: 'Skip Automated Mail',
				name: 'skipAutomated',
				type: 'boolean',
				default: true,
				description:
					'Whether to send no reply to automated mail (Auto-Submitted, Precedence bulk/list, mailing lists, bounces, X-Auto-Response-Suppress): the item says it was skipped. Replying to auto-replies starts mail loops.',
			},
		],
	),
];

function uniqueAddresses(list: MailAddress[], exclude: string[]): string[] {
	const skip = new Set(exclude.map((a) => a.toLowerCase()));
	const result: string[] = [];
	for (const a of list) {
		if (!a.address || skip.has(a.address)) continue;
		skip.add(a.address);
		result.push(a.address);
	}
	return result;
}

export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const { id } = mailbox.identify(messageIdOf(this, itemIndex));
	const { message: original } = await mailbox.getMessage(id, {
		content: 'summary',
		threading: true,
	});
	const send = await readSendOptions(this, itemIndex);
	const automated = automatedMailReason(original.headers);
	if (automated && send.options.skipAutomated !== false) {
		return [
			{
				json: {
					skipped: true,
					reason: `Not replied: the original is automated mail (${automated})`,
					id: original.id,
				},
				pairedItem: { item: itemIndex },
			},
		];
	}
	const replyAll = this.getNodeParameter('replyAll', itemIndex) as boolean;
	const self = [mailbox.address];
	const primary = original.replyTo.length ? original.replyTo : original.from ? [original.from] : [];
	const to = uniqueAddresses(primary, self);
	const cc = replyAll ? uniqueAddresses([...original.to, ...original.cc], [...self, ...to]) : [];
	cc.push(...(send.message.cc ?? []));
	const text = (this.getNodeParameter('text', itemIndex) as string) ?? '';
	const html = send.message.html;
	const quote =
		send.options.includeOriginal === false ? undefined : quoteOriginal(original, 'reply');
	const references = [...original.references, ...(original.messageId ? [original.messageId] : [])];
	const subject = prefixedSubject(original.subject, 'Re');
	const reply = {
		...send.message,
		to,
		cc,
		subject,
		text: quote ? `${text}\n\n${quote.text}` : text,
		html: html ? (quote ? `${html}<br>${quote.html}` : html) : undefined,
		inReplyTo: original.messageId ?? undefined,
		references,
	};
	const { outcome, sent } = await sendOrDraft(mailbox, reply, send);
	// Outlook shows "You replied": the original gets \Answered once the reply is sent.
	if (sent)
		await mailbox
			.markAnswered(id)
			.catch((error: Error) =>
				this.logger.warn(
					`Replied, but marking the original failed: ${redactSecrets(error.message)}`,
				),
			);
	return [
		{
			json: { ...outcome, to, cc, subject, inReplyTo: original.messageId },
			pairedItem: { item: itemIndex },
		},
	];
};

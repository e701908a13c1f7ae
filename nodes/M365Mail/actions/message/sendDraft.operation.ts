import type { INodeProperties } from 'n8n-workflow';

import { messageIdOf, messageIdProperty } from './helpers';
import { appendToSentOption } from './send';
import type { OperationExecutor } from '../types';

export const description: INodeProperties[] = [
	{
		...messageIdProperty(['sendDraft']),
		description:
			'The "id" of a draft: from Create Draft, from Reply or Forward with "Save as Draft", or from Get Many on the Drafts folder',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: { show: { resource: ['message'], operation: ['sendDraft'] } },
		description: 'Further settings of the send',
		options: [appendToSentOption],
	},
];

/**
 * A saved draft sent as it is: its recipients, subject, body and attachments are the draft's (a
 * person may have edited it in Outlook). It leaves Drafts. Never retried: a retry could send it twice.
 */
export const execute: OperationExecutor = async function (itemIndex, mailbox) {
	const { id } = mailbox.identify(messageIdOf(this, itemIndex));
	const options = this.getNodeParameter('options', itemIndex, {}) as { appendToSent?: boolean };
	const outcome = await mailbox.sendDraft(id, { appendToSent: options.appendToSent === true });
	return [{ json: { ...outcome, draftId: id }, pairedItem: { item: itemIndex } }];
};

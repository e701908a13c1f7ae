/** The trigger's parameters (one description for every transport). */
import type { INodeProperties } from 'n8n-workflow';

import {
	attachmentOptions,
	attachmentProperties,
	authenticationProperty,
	filtersProperty,
	folderLocator,
	mailboxProperty,
	outputProperty,
	protocolProperty,
} from '../shared/descriptions';

export const triggerProperties: INodeProperties[] = [
	authenticationProperty,
	protocolProperty,
	mailboxProperty,
	folderLocator('folder', 'Folder', 'The folder to watch for new unread mail'),
	filtersProperty(),
	{
		displayName: 'After Emitting',
		name: 'afterEmit',
		type: 'options',
		options: [
			{ name: 'Do Nothing', value: 'none', description: 'Leave the message as it is' },
			{
				name: 'Mark as Read',
				value: 'markRead',
				description: 'Mark the message as read in the mailbox',
			},
			{
				name: 'Move to Folder',
				value: 'move',
				description: 'Move the message to another folder',
			},
			{
				name: 'Delete',
				value: 'delete',
				description: 'Move the message to Deleted Items',
			},
		],
		default: 'none',
		description:
			'What to do with each message once n8n has it: applied at the start of the next poll, so a crash or a discarded poll never leaves a message marked but not emitted. It does not wait for the workflow to succeed: for that, choose Do Nothing with "Emit Again If Still Unread After" and mark or move the message with the Microsoft 365 Mail node at the end of the workflow.',
	},
	folderLocator('moveTo', 'Move To', 'The folder emitted messages are moved to', {
		displayOptions: { show: { afterEmit: ['move'] } },
		default: { mode: 'path', value: '' },
	}),
	{
		displayName:
			'Emitted messages are moved to Deleted Items by the next poll, whether the workflow succeeded or not. If the workflow fails, the message is only in Deleted Items. Consider "Mark as Read" or acting at the end of the workflow.',
		name: 'deleteNotice',
		type: 'notice',
		default: '',
		displayOptions: { show: { afterEmit: ['delete'] } },
	},
	outputProperty,
	...attachmentProperties,
	{
		displayName: 'On First Activation',
		name: 'startFrom',
		type: 'options',
		options: [
			{
				name: 'Start From Now',
				value: 'now',
				description: 'Only mail that arrives after the workflow is activated',
			},
			{
				name: 'Include Unread Mail Already There',
				value: 'existing',
				description: 'Also emit the unread messages already in the folder (oldest first)',
			},
		],
		default: 'now',
		description: 'Where the trigger starts the first time it runs for this folder',
	},
	{
		displayName: 'Max Messages per Poll',
		name: 'maxMessages',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 5000 },
		default: 50,
		description: 'The rest comes at the next poll, oldest first, so a backlog never floods a run',
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		description: 'Further settings of the trigger: add only those you need',
		options: [
			...attachmentOptions,
			{
				displayName: 'Skip Messages Larger Than (MB)',
				name: 'maxSizeMb',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 50,
				description:
					'Messages larger than this are passed over (and logged); 0 means Exchange Online’s own limit of 150 MB, the most the trigger ever reads. Power Automate skips messages over 50 MB.',
			},
			{
				displayName: 'Emit Again If Still Unread After (Minutes)',
				name: 'redeliverAfterMinutes',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 0,
				description:
					'At-least-once delivery: a message still unread (and still in the folder) this long after it was emitted is emitted again, with delivery.attempt counting up. Use it with After Emitting "Do Nothing" and a Microsoft 365 Mail node at the end of the workflow that marks the message read or moves it, so a failed run is retried and a successful one is not. 0 emits each message once.',
			},
			{
				displayName: 'Max Attempts',
				name: 'maxAttempts',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 3,
				description:
					'With "Emit Again If Still Unread After": how many times a message is emitted in all. After the last, the trigger stops and a failed execution names the message.',
			},
			{
				displayName: 'Memory Budget per Poll (MB)',
				name: 'pollBudgetMb',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 64,
				description:
					'A poll stops taking messages once their size passes this, and the next poll goes on where it stopped: a burst of large mail never takes more memory than this at once',
			},
		],
	},
];

/** The instant trigger's parameters: the polling trigger's, worded for "after the run succeeds". */
import type { INodeProperties } from 'n8n-workflow';

import { triggerProperties } from './description';

const changed: Record<string, Partial<INodeProperties>> = {
	afterEmit: {
		displayName: 'After the Run Succeeds',
		description:
			'What to do with each message once the execution it started has succeeded. A run that fails, is cancelled or does not finish in time leaves the message as it is, and it is emitted again after "Emit Again After a Failed Run".',
	},
	moveTo: { description: 'The folder messages are moved to once their run succeeded' },
	maxMessages: {
		displayName: 'Max Messages at Once',
		description:
			'How many new messages start executions at once (one execution each, or per "Messages per Execution"); the rest follow as those are handed over, oldest first',
	},
};

const changedOptions: Record<string, Partial<INodeProperties>> = {
	redeliverAfterMinutes: {
		displayName: 'Emit Again After a Failed Run (Minutes)',
		default: 5,
		typeOptions: { minValue: 0, numberPrecision: 2 },
		description:
			'A message whose run failed, was cancelled or did not finish in time is emitted again this long after, with delivery.attempt counting up. 0: a failed run is not repeated.',
	},
	maxAttempts: {
		description:
			'How many times a message is emitted in all. After the last failed run, the trigger stops emitting it and a failed execution names the message.',
	},
	pollBudgetMb: {
		displayName: 'Memory Budget per Catch-Up (MB)',
		description:
			'A catch-up stops taking messages once their size passes this, and the next one goes on where it stopped',
	},
};

const extraOptions: INodeProperties[] = [
	{
		displayName: 'Flag After the Last Failed Run',
		name: 'giveUpFlag',
		type: 'boolean',
		default: false,
		description:
			'Whether to flag a message whose last attempt failed, so that it stands out in Outlook',
	},
	{
		displayName: 'Move After the Last Failed Run To',
		name: 'giveUpMoveTo',
		type: 'string',
		default: '',
		placeholder: 'Inbox/Failed',
		description:
			'The folder a message whose last attempt failed is moved to (full path with "/"); empty leaves it in the watched folder',
	},
	{
		displayName: 'Max Wait for a Run (Minutes)',
		name: 'maxWaitMinutes',
		type: 'number',
		typeOptions: { minValue: 0.1, numberPrecision: 2 },
		default: 60,
		description:
			'How long the trigger waits for an execution to finish. One that takes longer counts as not succeeded: the message is emitted again after the delay.',
	},
	{
		displayName: 'Messages per Execution',
		name: 'messagesPerRun',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 100 },
		default: 1,
		description:
			'How many messages one execution gets, one item each (1 to 100). With more than 1, messages that arrive together share an execution: the after-run action applies to all of them once it succeeded, and if it fails all of them are emitted again. The trigger does not wait for more mail to fill a batch.',
	},
	{
		displayName: 'Waiting Counts as Success',
		name: 'waitingCountsAsSuccess',
		type: 'boolean',
		default: true,
		description:
			'Whether an execution paused by a Wait node counts as succeeded (the after-run action applies then), or as not succeeded',
	},
];

/** How the trigger hears of new mail. */
export const noticeProperty: INodeProperties = {
	displayName: 'New Mail Notice',
	name: 'notice',
	type: 'options',
	noDataExpression: true,
	options: [
		{
			name: 'IMAP IDLE',
			value: 'imapIdle',
			description:
				'A live IMAP connection that the server tells of new mail. Needs IMAP access; no public URL.',
		},
		{
			name: 'Microsoft Graph Change Notifications',
			value: 'graph',
			description:
				"Graph calls n8n's webhook when mail arrives. Needs Microsoft Graph access and n8n reachable from the internet over https (N8N_WEBHOOK_URL).",
		},
	],
	default: 'imapIdle',
	description:
		'How the trigger learns of new mail. Either way it reads the folder itself (IMAP cursor or Graph delta), so a lost or repeated notice never loses or repeats mail.',
};

export const instantTriggerProperties: INodeProperties[] = triggerProperties
	.filter((p) => p.name !== 'deleteNotice')
	.flatMap((p) => (p.name === 'mailbox' ? [p, noticeProperty] : [p]))
	.map((p) => {
		if (p.name !== 'options') return { ...p, ...changed[p.name] } as INodeProperties;
		const options = (p.options as INodeProperties[]).map(
			(o) => ({ ...o, ...changedOptions[o.name] }) as INodeProperties,
		);
		return {
			...p,
			description: 'Further settings of the trigger: add only those you need',
			options: [...options, ...extraOptions].sort((a, b) =>
				a.displayName < b.displayName ? -1 : 1,
			),
		} as INodeProperties;
	});

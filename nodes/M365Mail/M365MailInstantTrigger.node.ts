import type {
	IHookFunctions,
	INodeType,
	INodeTypeDescription,
	ITriggerFunctions,
	ITriggerResponse,
	IWebhookFunctions,
	IWebhookResponseData,
} from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import { FOLDER_SUBTITLE, NODE_CREDENTIALS, NODE_ICON } from './shared/descriptions';
import { nodeMethods } from './methods';
import { instantTriggerProperties } from './trigger/instantDescription';

export class M365MailInstantTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Microsoft 365 Mail Instant Trigger',
		name: 'm365MailInstantTrigger',
		icon: NODE_ICON,
		group: ['trigger'],
		version: 1,
		subtitle: FOLDER_SUBTITLE,
		description:
			'Starts the workflow within seconds of new mail in a Microsoft 365 mailbox folder (IMAP IDLE or Microsoft Graph change notifications), one execution per message, and marks or moves it only when that execution succeeded',
		defaults: { name: 'Microsoft 365 Mail Instant Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: NODE_CREDENTIALS,
		// Only with New Mail Notice "Microsoft Graph": Graph's validation requests, notifications and
		// lifecycle events. With IMAP IDLE the method is empty and n8n registers no webhook.
		webhooks: [
			{
				name: 'default',
				httpMethod: '={{$parameter["notice"] === "graph" ? "POST" : ""}}',
				responseMode: 'onReceived',
				path: 'graph-notifications',
				ndvHideUrl: true,
				ndvHideMethod: true,
			},
		],
		properties: instantTriggerProperties,
	};

	methods = nodeMethods;

	webhookMethods = {
		default: {
			async checkExists(this: IHookFunctions): Promise<boolean> {
				const { subscriptionExists } = await import('./trigger/notifications');
				return await subscriptionExists.call(this);
			},
			async create(this: IHookFunctions): Promise<boolean> {
				const { createSubscription } = await import('./trigger/notifications');
				return await createSubscription.call(this);
			},
			async delete(this: IHookFunctions): Promise<boolean> {
				const { removeSubscription } = await import('./trigger/notifications');
				return await removeSubscription.call(this);
			},
		},
	};

	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		const { receiveNotification } = await import('./trigger/notifications');
		return await receiveNotification.call(this);
	}

	async trigger(this: ITriggerFunctions): Promise<ITriggerResponse> {
		// The engine and the transports load on activation, not with the node file.
		const { instantTrigger } = await import('./trigger/instant');
		return await instantTrigger.call(this);
	}
}

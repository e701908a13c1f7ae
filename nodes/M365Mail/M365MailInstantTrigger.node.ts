import type {
	INodeType,
	INodeTypeDescription,
	ITriggerFunctions,
	ITriggerResponse,
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
			'Starts the workflow within seconds of new mail in a Microsoft 365 mailbox folder (IMAP IDLE), one execution per message, and marks or moves it only when that execution succeeded',
		defaults: { name: 'Microsoft 365 Mail Instant Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: NODE_CREDENTIALS,
		properties: instantTriggerProperties,
	};

	methods = nodeMethods;

	async trigger(this: ITriggerFunctions): Promise<ITriggerResponse> {
		// The engine and the transports load on activation, not with the node file.
		const { instantTrigger } = await import('./trigger/instant');
		return await instantTrigger.call(this);
	}
}

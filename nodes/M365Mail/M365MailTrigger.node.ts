import type {
	INodeType,
	INodeTypeDescription,
	IPollFunctions,
	INodeExecutionData,
} from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import { FOLDER_SUBTITLE, NODE_CREDENTIALS, NODE_ICON } from './shared/descriptions';
import { nodeMethods } from './methods';
import { triggerProperties } from './trigger/description';

export class M365MailTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Microsoft 365 Mail Trigger',
		name: 'm365MailTrigger',
		icon: NODE_ICON,
		group: ['trigger'],
		version: 1,
		subtitle: FOLDER_SUBTITLE,
		description:
			'Starts the workflow when new unread mail arrives in a Microsoft 365 mailbox folder (each message once)',
		defaults: { name: 'Microsoft 365 Mail Trigger' },
		polling: true,
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: NODE_CREDENTIALS,
		properties: triggerProperties,
	};

	methods = nodeMethods;

	async poll(this: IPollFunctions): Promise<INodeExecutionData[][] | null> {
		// The engine and the transports load on the first poll, not with the node file.
		const { pollTrigger } = await import('./trigger/poll');
		return await pollTrigger.call(this);
	}
}

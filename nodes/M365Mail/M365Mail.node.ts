import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';

import { authenticationProperty, mailboxProperty } from './actions/common';
import * as folderGetAll from './actions/folder/getAll.operation';
import { router } from './actions/router';
import { testAppOnlyCredential } from './methods/credentialTest';

export class M365Mail implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Microsoft 365 Mail',
		name: 'm365Mail',
		icon: { light: 'file:../../icons/m365mail.svg', dark: 'file:../../icons/m365mail.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"] + ": " + $parameter["resource"]}}',
		description: 'Work with Microsoft 365 mailboxes over OAuth2 (IMAP + SMTP with XOAUTH2)',
		defaults: { name: 'Microsoft 365 Mail' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{
				name: 'm365MailOAuth2Api',
				required: true,
				displayOptions: { show: { authentication: ['delegated'] } },
			},
			{
				name: 'm365MailAppOnlyApi',
				required: true,
				testedBy: 'm365MailAppOnlyTest',
				displayOptions: { show: { authentication: ['appOnly'] } },
			},
		],
		properties: [
			authenticationProperty,
			{
				displayName: 'Resource',
				name: 'resource',
				type: 'options',
				noDataExpression: true,
				options: [{ name: 'Folder', value: 'folder' }],
				default: 'folder',
			},
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				displayOptions: { show: { resource: ['folder'] } },
				options: [
					{
						name: 'Get Many',
						value: 'getAll',
						description: 'List the folders of a mailbox, nested ones with their full path',
						action: 'Get many folders',
					},
				],
				default: 'getAll',
			},
			mailboxProperty,
			...folderGetAll.description,
		],
	};

	methods = {
		credentialTest: {
			m365MailAppOnlyTest: testAppOnlyCredential,
		},
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await router.call(this);
	}
}

import {
	NodeConnectionTypes,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
	type IWebhookFunctions,
	type IWebhookResponseData,
} from 'n8n-workflow';

import * as attachmentDownload from './actions/attachment/download.operation';
import * as attachmentGetAll from './actions/attachment/getAll.operation';
import {
	authenticationProperty,
	mailboxProperty,
	NODE_ICON,
	operationProperty,
	protocolProperty,
} from './shared/descriptions';
import * as folderCreate from './actions/folder/create.operation';
import * as folderDelete from './actions/folder/delete.operation';
import * as folderGet from './actions/folder/get.operation';
import * as folderGetAll from './actions/folder/getAll.operation';
import * as folderMove from './actions/folder/move.operation';
import * as folderRename from './actions/folder/rename.operation';
import * as messageComplete from './actions/message/complete.operation';
import * as messageCopy from './actions/message/copy.operation';
import * as messageCreateDraft from './actions/message/createDraft.operation';
import * as messageDelete from './actions/message/delete.operation';
import * as messageFlag from './actions/message/flag.operation';
import * as messageForward from './actions/message/forward.operation';
import * as messageGet from './actions/message/get.operation';
import * as messageGetAll from './actions/message/getAll.operation';
import * as messageMarkAsRead from './actions/message/markAsRead.operation';
import * as messageMarkAsUnread from './actions/message/markAsUnread.operation';
import * as messageMove from './actions/message/move.operation';
import * as messageReply from './actions/message/reply.operation';
import * as messageSend from './actions/message/send.operation';
import * as messageSendAndWait from './actions/message/sendAndWait.operation';
import * as messageSendDraft from './actions/message/sendDraft.operation';
import * as messageSetCategories from './actions/message/setCategories.operation';
import * as messageUnflag from './actions/message/unflag.operation';
import { nodeMethods } from './methods';

export class M365Mail implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Microsoft 365 Mail',
		name: 'm365Mail',
		icon: NODE_ICON,
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"] + ": " + $parameter["resource"]}}',
		description:
			'Send, reply, forward, move, flag and read mail in Microsoft 365 mailboxes over OAuth2 (Microsoft Graph, or IMAP + SMTP with XOAUTH2)',
		defaults: { name: 'Microsoft 365 Mail' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		// Send and Wait for Response: the execution resumes through a link of the mail it sent.
		webhooks: messageSendAndWait.responseWebhooks,
		waitingNodeTooltip:
			'={{ $parameter.operation === "sendAndWait" ? "The execution goes on when the recipient answers" : "" }}',
		// Inline (not NODE_CREDENTIALS): n8n's lint finds `testedBy` only written out in a node file.
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
			protocolProperty,
			{
				displayName: 'Resource',
				name: 'resource',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Attachment', value: 'attachment' },
					{ name: 'Folder', value: 'folder' },
					{ name: 'Message', value: 'message' },
				],
				default: 'message',
				description: 'What the operation works on: messages, mailbox folders, or attachments',
			},
			operationProperty(
				'message',
				[
					{
						name: 'Complete Flag',
						value: 'complete',
						description: 'Mark a follow-up flag as complete (Microsoft Graph only)',
						action: 'Complete a message flag',
					},
					{
						name: 'Copy',
						value: 'copy',
						description: 'Copy a message to another folder',
						action: 'Copy a message',
					},
					{
						name: 'Create Draft',
						value: 'createDraft',
						description:
							'Save a new message in Drafts without sending it, for a person to review and send',
						action: 'Create a draft',
					},
					{
						name: 'Delete',
						value: 'delete',
						description: 'Move a message to Deleted Items, or delete it for good',
						action: 'Delete a message',
					},
					{
						name: 'Flag',
						value: 'flag',
						description: 'Flag a message for follow-up, with a due date over Microsoft Graph',
						action: 'Flag a message',
					},
					{
						name: 'Forward',
						value: 'forward',
						description: 'Forward a message with its attachments',
						action: 'Forward a message',
					},
					{
						name: 'Get',
						value: 'get',
						description: 'Get a message by its ID',
						action: 'Get a message',
					},
					{
						name: 'Get Many',
						value: 'getAll',
						description: 'Search a folder',
						action: 'Get many messages',
					},
					{
						name: 'Mark as Read',
						value: 'markAsRead',
						description: 'Mark a message as read',
						action: 'Mark a message as read',
					},
					{
						name: 'Mark as Unread',
						value: 'markAsUnread',
						description: 'Mark a message as unread',
						action: 'Mark a message as unread',
					},
					{
						name: 'Move',
						value: 'move',
						description: 'Move a message to another folder',
						action: 'Move a message',
					},
					{
						name: 'Reply',
						value: 'reply',
						description: 'Reply (or reply to all) to a message',
						action: 'Reply to a message',
					},
					{
						name: 'Send',
						value: 'send',
						description: 'Send a new message',
						action: 'Send a message',
					},
					{
						name: 'Send and Wait for Response',
						value: 'sendAndWait',
						description:
							'Send a message with buttons, and wait until the recipient approves, declines or answers',
						action: 'Send a message and wait for response',
					},
					{
						name: 'Send Draft',
						value: 'sendDraft',
						description:
							'Send a message saved in Drafts as it is (a draft a person reviewed in Outlook)',
						action: 'Send a draft',
					},
					{
						name: 'Set Categories',
						value: 'setCategories',
						description: 'Add, remove or replace Outlook categories (Microsoft Graph only)',
						action: 'Set categories on a message',
					},
					{
						name: 'Unflag',
						value: 'unflag',
						description: 'Clear the follow-up flag',
						action: 'Unflag a message',
					},
				],
				'send',
			),
			operationProperty(
				'folder',
				[
					{
						name: 'Create',
						value: 'create',
						description: 'Create a folder (and missing parents)',
						action: 'Create a folder',
					},
					{
						name: 'Delete',
						value: 'delete',
						description: 'Move a folder with its mail to Deleted Items, or delete it for good',
						action: 'Delete a folder',
					},
					{
						name: 'Get',
						value: 'get',
						description: 'Get a folder with how many messages it holds, and how many are unread',
						action: 'Get a folder',
					},
					{
						name: 'Get Many',
						value: 'getAll',
						description: 'List the folders of a mailbox, nested ones with their full path',
						action: 'Get many folders',
					},
					{
						name: 'Move',
						value: 'move',
						description: 'Move a folder with its subfolders and mail into another folder',
						action: 'Move a folder',
					},
					{
						name: 'Rename',
						value: 'rename',
						description: 'Rename a folder where it is',
						action: 'Rename a folder',
					},
				],
				'getAll',
			),
			operationProperty(
				'attachment',
				[
					{
						name: 'Download',
						value: 'download',
						description: 'Download attachments as binary data',
						action: 'Download attachments',
					},
					{
						name: 'Get Many',
						value: 'getAll',
						description: 'List the attachments of a message',
						action: 'Get many attachments',
					},
				],
				'getAll',
			),
			mailboxProperty,
			...messageSend.description,
			...messageCreateDraft.description,
			...messageSendAndWait.description,
			...messageSendDraft.description,
			...messageReply.description,
			...messageForward.description,
			...messageGet.description,
			...messageGetAll.description,
			...messageGet.outputDescription,
			...messageMove.description,
			...messageCopy.description,
			...messageDelete.description,
			...messageMarkAsRead.description,
			...messageMarkAsUnread.description,
			...messageFlag.description,
			...messageUnflag.description,
			...messageComplete.description,
			...messageSetCategories.description,
			...folderGet.description,
			...folderGetAll.description,
			...folderCreate.description,
			...folderMove.description,
			...folderRename.description,
			...folderDelete.description,
			...attachmentGetAll.description,
			...attachmentDownload.description,
		],
	};

	methods = nodeMethods;

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		// The operations' code and the transports load on the first run, not with the node file.
		const { router } = await import('./actions/router');
		return await router.call(this);
	}

	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		const { respond } = await import('./actions/message/response');
		return await respond.call(this);
	}
}

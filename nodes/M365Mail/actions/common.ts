/** Parameters and helpers every operation shares: which credential, which mailbox, error wrapping. */
import {
	NodeApiError,
	NodeOperationError,
	type IExecuteFunctions,
	type INode,
	type INodeCredentialDescription,
	type INodeProperties,
	type JsonObject,
} from 'n8n-workflow';

import { MailServiceError, redactSecrets } from '../transport/auth/errors';
import type { ImapSessions } from './sessions';
import {
	APP_ONLY_CREDENTIAL,
	DELEGATED_CREDENTIAL,
	type CredentialType,
	type MailConnection,
} from '../transport/connection';

/** Both nodes take either credential, chosen by the Authentication parameter. */
export const NODE_CREDENTIALS: INodeCredentialDescription[] = [
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
];

export const authenticationProperty: INodeProperties = {
	displayName: 'Authentication',
	name: 'authentication',
	type: 'options',
	options: [
		{
			name: 'OAuth2 (Delegated)',
			value: 'delegated',
			description: 'A signed-in user; their own mailbox or mailboxes shared with them',
		},
		{
			name: 'App-Only (Client Credentials)',
			value: 'appOnly',
			description: 'The app itself, for service and shared mailboxes granted to it',
		},
	],
	default: 'delegated',
	description: 'Which kind of Microsoft 365 Mail credential to use',
};

export const protocolProperty: INodeProperties = {
	displayName: 'Protocol',
	name: 'protocol',
	type: 'options',
	options: [
		{
			name: 'Microsoft Graph',
			value: 'graph',
			description: 'Needs the Mail.ReadWrite / Mail.Send application permissions',
		},
		{
			name: 'IMAP + SMTP',
			value: 'imap',
			description: 'Needs IMAP.AccessAsApp / SMTP.SendAsApp and the Exchange service principal',
		},
	],
	default: 'graph',
	description:
		'How the app-only credential reaches the mailbox. (A delegated credential uses the access it was connected for.).',
	displayOptions: { show: { authentication: ['appOnly'] } },
};

/** The protocol of this node run: the delegated credential's access, or the app-only choice. */
export function transportOf(
	connection: MailConnection,
	getParameter: (name: string, fallback: unknown) => unknown,
): 'graph' | 'imap' {
	if (connection.tokens.kind === 'delegated')
		return connection.access === 'graph' ? 'graph' : 'imap';
	return getParameter('protocol', 'graph') === 'imap' ? 'imap' : 'graph';
}

export const mailboxProperty: INodeProperties = {
	displayName: 'Mailbox',
	name: 'mailbox',
	type: 'string',
	default: '',
	placeholder: 'shared@contoso.com',
	description:
		'Address of the mailbox to use. Leave empty for the signed-in user’s own mailbox; required with app-only credentials.',
};

export function credentialTypeOf(authentication: string): CredentialType {
	return authentication === 'appOnly' ? APP_ONLY_CREDENTIAL : DELEGATED_CREDENTIAL;
}

/** The mailbox to open: the parameter, or the signed-in user of a delegated credential. */
export async function resolveMailbox(
	node: INode,
	connection: MailConnection,
	parameter: string,
	itemIndex?: number,
): Promise<string> {
	const mailbox = parameter.trim();
	if (mailbox) return mailbox;
	const own = await connection.tokens.signedInMailbox();
	if (own) return own;
	throw new NodeOperationError(node, 'Mailbox is required', {
		itemIndex,
		description:
			connection.tokens.kind === 'appOnly'
				? 'App-only credentials have no signed-in user: enter the address of the mailbox granted to the app.'
				: 'The signed-in account did not reveal its address: enter the mailbox address, or reconnect the credential.',
	});
}

/** Wraps a transport error for n8n: the message says what failed, the description names the fix. */
export function toNodeError(node: INode, error: unknown, itemIndex?: number): Error {
	if (error instanceof NodeApiError || error instanceof NodeOperationError) return error;
	if (error instanceof MailServiceError) {
		const options = {
			itemIndex,
			message: error.message,
			description: error.code ? `${error.fix} (code: ${error.code})` : error.fix,
			httpCode: error.httpStatus ? String(error.httpStatus) : undefined,
		};
		if (['credential', 'tenant', 'scope', 'input'].includes(error.kind) && !error.httpStatus) {
			return new NodeOperationError(node, error.message, options);
		}
		return new NodeApiError(
			node,
			{ message: error.message, code: error.code ?? null } as JsonObject,
			options,
		);
	}
	// A library's own error can quote what it sent (an XOAUTH2 string, a token): redact it too.
	const e = error as Error;
	return new NodeOperationError(node, redactSecrets(e?.message ?? String(error)), { itemIndex });
}

export type OperationExecutor = (
	this: IExecuteFunctions,
	itemIndex: number,
	connection: MailConnection,
	sessions: ImapSessions,
) => Promise<import('n8n-workflow').INodeExecutionData[]>;

/** Which operations a resource offers, for the description's options. */
export function operationProperty(
	resource: string,
	options: Array<{ name: string; value: string; description: string; action: string }>,
	defaultValue: string,
): INodeProperties {
	return {
		displayName: 'Operation',
		name: 'operation',
		type: 'options',
		noDataExpression: true,
		displayOptions: { show: { resource: [resource] } },
		options,
		default: defaultValue,
		description: `What to do with the ${resource}`,
	};
}

/** Which credential and transport a node run uses, and which mailbox an item means. */
import {
	NodeOperationError,
	type IExecuteFunctions,
	type ILoadOptionsFunctions,
	type INode,
	type IPollFunctions,
	type ITriggerFunctions,
	type IHookFunctions,
	type IWebhookFunctions,
} from 'n8n-workflow';

import {
	APP_ONLY_CREDENTIAL,
	connectionFromContext,
	DELEGATED_CREDENTIAL,
	type CredentialType,
	type MailConnection,
	type MailTransportKind,
} from '../transport/connection';
import type { Mailbox } from '../transport/mailbox';
import { openMailbox, type MailboxOptions } from '../transport/open';

type N8nContext =
	| IExecuteFunctions
	| IPollFunctions
	| ILoadOptionsFunctions
	| ITriggerFunctions
	| IHookFunctions
	| IWebhookFunctions;

/** Reads a node parameter that does not vary by item. */
export type NodeParameter = (name: string, fallback: unknown) => unknown;

/** The protocol of this node run: the delegated credential's access, or the app-only choice. */
export function transportOf(
	connection: MailConnection,
	getParameter: NodeParameter,
): MailTransportKind {
	if (connection.tokens.kind === 'delegated')
		return connection.access === 'graph' ? 'graph' : 'imap';
	return getParameter('protocol', 'graph') === 'imap' ? 'imap' : 'graph';
}

export function credentialTypeOf(authentication: string): CredentialType {
	return authentication === 'appOnly' ? APP_ONLY_CREDENTIAL : DELEGATED_CREDENTIAL;
}

/** The node's credential, with the transport this run uses decided. */
export async function connectNode(
	ctx: N8nContext,
	getParameter: NodeParameter,
): Promise<MailConnection> {
	const authentication = String(getParameter('authentication', 'delegated'));
	const connection = await connectionFromContext(ctx, credentialTypeOf(authentication));
	connection.transport = transportOf(connection, getParameter);
	return connection;
}

/** The mailbox to open: the parameter, or the signed-in user of a delegated credential. */
export async function resolveMailbox(
	node: INode,
	connection: MailConnection,
	parameter: string,
	itemIndex?: number,
): Promise<string> {
	const mailbox = String(parameter ?? '').trim();
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

/**
 * The mailbox a trigger, webhook or method works on: the node's credential, and its Mailbox
 * parameter or the signed-in user. Nothing is opened until first use.
 */
export async function openNodeMailbox(
	ctx:
		| IPollFunctions
		| ITriggerFunctions
		| ILoadOptionsFunctions
		| IHookFunctions
		| IWebhookFunctions,
	options?: MailboxOptions,
): Promise<Mailbox> {
	const getParameter: NodeParameter = (name, fallback) =>
		(ctx as ITriggerFunctions).getNodeParameter(name, fallback);
	const connection = await connectNode(ctx, getParameter);
	const address = await resolveMailbox(
		ctx.getNode(),
		connection,
		getParameter('mailbox', '') as string,
	);
	return openMailbox(connection, address, options);
}

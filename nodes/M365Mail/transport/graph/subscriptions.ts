/**
 * Microsoft Graph change-notification subscriptions on a mail folder's messages: create (Graph
 * validates the notification URL first), read, renew, delete. A notification only says "there is
 * new mail"; the trigger's delta query stays the source of truth.
 */
import { randomBytes } from 'node:crypto';

import { MailServiceError } from '../auth/errors';
import type { MailSubscription } from '../mailbox';
import type { GraphClient } from './client';

/** How long a subscription lives (Microsoft's limit for messages is 10,080 minutes). */
export const SUBSCRIPTION_LIFETIME_MS = 3 * 24 * 60 * 60_000;
/** Renew once less than this is left (checked every hour, and on reauthorizationRequired). */
export const RENEW_WHEN_LEFT_MS = 2 * 24 * 60 * 60_000;

/** The subscriptions endpoint of the client's Graph root (not below the mailbox). */
function subscriptionsUrl(client: GraphClient, id?: string): string {
	const root = client.base.replace(/\/v1\.0\/.*$/, '/v1.0');
	return `${root}/subscriptions${id ? `/${encodeURIComponent(id)}` : ''}`;
}

/** The resource Graph watches: the folder's messages in this client's mailbox. */
export function folderResource(client: GraphClient, folderId: string): string {
	const owner = client.mailbox ? `users/${client.mailbox}` : 'me';
	return `${owner}/mailFolders('${folderId.replace(/'/g, "''")}')/messages`;
}

/** Whether a subscription should be renewed now. */
export function needsRenewal(expirationDateTime: string, now = Date.now()): boolean {
	const at = Date.parse(expirationDateTime);
	return !Number.isFinite(at) || at - now < RENEW_WHEN_LEFT_MS;
}

const expiry = (now: number) => new Date(now + SUBSCRIPTION_LIFETIME_MS).toISOString();

/**
 * Subscribes the URL to new messages in the folder. Graph sends the URL a validation request
 * before it answers, so n8n's webhook must already be listening.
 */
export async function createMailSubscription(
	client: GraphClient,
	folderId: string,
	notificationUrl: string,
	now = Date.now(),
): Promise<MailSubscription> {
	const clientState = randomBytes(32).toString('base64url');
	const resource = folderResource(client, folderId);
	let created: { id?: string; expirationDateTime?: string };
	try {
		created = await client.request<{ id?: string; expirationDateTime?: string }>({
			method: 'POST',
			path: subscriptionsUrl(client),
			body: {
				changeType: 'created',
				notificationUrl,
				lifecycleNotificationUrl: notificationUrl,
				resource,
				expirationDateTime: expiry(now),
				clientState,
				latestSupportedTlsVersion: 'v1_2',
			},
		});
	} catch (error) {
		if (error instanceof MailServiceError && error.code === 'ValidationError') {
			throw new MailServiceError(
				`Microsoft Graph could not deliver change notifications to n8n at ${notificationUrl}: ${error.message}`,
				'Graph must reach n8n\'s webhook URL from the internet over https with a valid certificate: set N8N_WEBHOOK_URL (or WEBHOOK_URL) to n8n\'s public https address. Without one, use New Mail Notice "IMAP IDLE" or the Microsoft 365 Mail Trigger (polling).',
				'input',
				error.code,
				error.httpStatus,
			);
		}
		throw error;
	}
	if (!created.id)
		throw new MailServiceError(
			'Microsoft Graph created a subscription without an id',
			'Try again; if it persists, use the polling trigger.',
			'unknown',
		);
	return {
		id: created.id,
		clientState,
		expirationDateTime: created.expirationDateTime ?? expiry(now),
		notificationUrl,
		resource,
	};
}

/** The subscription as Graph has it, or undefined when it is gone (expired, removed, deleted). */
export async function readSubscription(
	client: GraphClient,
	id: string,
): Promise<{ expirationDateTime: string; notificationUrl: string } | undefined> {
	try {
		return await client.request<{ expirationDateTime: string; notificationUrl: string }>({
			path: subscriptionsUrl(client, id),
		});
	} catch (error) {
		if (error instanceof MailServiceError && error.httpStatus === 404) return undefined;
		throw error;
	}
}

/** Extends the subscription (this also reauthorizes it); returns the new expiry. */
export async function renewSubscription(
	client: GraphClient,
	id: string,
	now = Date.now(),
): Promise<string> {
	const renewed = await client.request<{ expirationDateTime?: string }>({
		method: 'PATCH',
		path: subscriptionsUrl(client, id),
		body: { expirationDateTime: expiry(now) },
	});
	return renewed.expirationDateTime ?? expiry(now);
}

/** Deletes the subscription; one that is already gone is fine. */
export async function deleteSubscription(client: GraphClient, id: string): Promise<void> {
	try {
		await client.request({ method: 'DELETE', path: subscriptionsUrl(client, id) });
	} catch (error) {
		if (error instanceof MailServiceError && error.httpStatus === 404) return;
		throw error;
	}
}

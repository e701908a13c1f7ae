/**
 * Change notifications of the Graph emulator, the way Microsoft Graph documents them for Outlook
 * messages (https://learn.microsoft.com/graph/change-notifications-delivery-webhooks):
 * - POST /subscriptions validates the notification URL (and the lifecycle URL) before it answers:
 *   a POST to `{url}?validationToken=...` that must answer 200 with exactly the token as text/plain
 *   within 10 s; an http URL, a resource it does not know, an expiry past 10,080 minutes or a failed
 *   validation is refused with 400.
 * - Notifications for new messages in the subscribed folder go out batched (`{ value: [...] }`),
 *   carrying the subscription's clientState; an answer other than 2xx is retried a few times.
 * - GET / PATCH (renew) / DELETE /subscriptions/{id}; a subscription past its expiry is gone.
 * - Lifecycle notifications (`reauthorizationRequired`, `subscriptionRemoved`, `missed`) go to the
 *   lifecycle URL when a test asks for them; `subscriptionRemoved` deletes the subscription first.
 * One deviation, needed for a test on one machine: Graph refuses notification URLs on a private or
 * loopback address; the emulator accepts them (still only over https, with the test CA).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpsRequest } from 'node:https';

import { TENANT_ID } from './directory';

/** Microsoft's limit for Outlook message subscriptions. */
export const MAX_SUBSCRIPTION_MINUTES = 10_080;
const VALIDATION_TIMEOUT_MS = 10_000;
/** How long notifications wait to be batched together. */
const BATCH_MS = 150;
const RETRY_DELAYS_MS = [1_000, 2_000, 4_000];

export interface StoredSubscription {
	id: string;
	resource: string;
	changeType: string;
	notificationUrl: string;
	lifecycleNotificationUrl?: string;
	clientState?: string;
	expirationDateTime: string;
	/** Which mailbox and folder the resource names. */
	upn: string;
	folderId: string;
	applicationId: string;
}

export class SubscriptionError extends Error {
	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
	) {
		super(message);
	}
}

interface PostResult {
	status: number;
	body: string;
}

export class GraphSubscriptions {
	readonly byId = new Map<string, StoredSubscription>();
	/** What was sent, for tests: notifications by outcome, validations, lifecycle events. */
	readonly counts = new Map<string, number>();
	/** Notifications to leave unsent (what a `missed` lifecycle event then reports). */
	private mute = 0;
	private readonly queues = new Map<
		string,
		{ items: Record<string, unknown>[]; timer: NodeJS.Timeout }
	>();
	private stopped = false;

	constructor(private readonly ca?: string) {}

	private count(key: string): void {
		this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
	}

	/** The subscription, or undefined when there is none or it has expired (which deletes it). */
	get(id: string): StoredSubscription | undefined {
		const sub = this.byId.get(id);
		if (sub && Date.parse(sub.expirationDateTime) <= Date.now()) {
			this.byId.delete(id);
			return undefined;
		}
		return sub;
	}

	json(sub: StoredSubscription): Record<string, unknown> {
		return {
			'@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity',
			id: sub.id,
			resource: sub.resource,
			applicationId: sub.applicationId,
			changeType: sub.changeType,
			clientState: sub.clientState ?? null,
			notificationUrl: sub.notificationUrl,
			lifecycleNotificationUrl: sub.lifecycleNotificationUrl ?? null,
			expirationDateTime: sub.expirationDateTime,
			creatorId: sub.applicationId,
			latestSupportedTlsVersion: 'v1_2',
			notificationQueryOptions: null,
			includeResourceData: false,
		};
	}

	/** Checks an expiry Graph would take for a message subscription. */
	checkExpiry(value: unknown): string {
		const at = Date.parse(String(value ?? ''));
		if (!Number.isFinite(at))
			throw new SubscriptionError(
				400,
				'InvalidRequest',
				'expirationDateTime is required and must be a date and time.',
			);
		if (at <= Date.now())
			throw new SubscriptionError(
				400,
				'InvalidRequest',
				'Subscription expiration must be in the future.',
			);
		if (at > Date.now() + MAX_SUBSCRIPTION_MINUTES * 60_000)
			throw new SubscriptionError(
				400,
				'InvalidRequest',
				`Subscription expiration can only be ${MAX_SUBSCRIPTION_MINUTES} minutes in the future.`,
			);
		return new Date(at).toISOString();
	}

	async create(
		body: Record<string, unknown>,
		target: { upn: string; folderId: string; applicationId: string },
	): Promise<StoredSubscription> {
		const changeType = String(body.changeType ?? '');
		if (!changeType.split(',').every((c) => ['created', 'updated', 'deleted'].includes(c.trim())))
			throw new SubscriptionError(400, 'InvalidRequest', `Invalid changeType '${changeType}'.`);
		const clientState = body.clientState === undefined ? undefined : String(body.clientState);
		if (clientState !== undefined && clientState.length > 128)
			throw new SubscriptionError(
				400,
				'InvalidRequest',
				'clientState must be at most 128 characters.',
			);
		const urls = [body.notificationUrl, body.lifecycleNotificationUrl].filter(
			(u) => u !== undefined && u !== null,
		);
		for (const url of urls) {
			if (!/^https:\/\//i.test(String(url)))
				throw new SubscriptionError(
					400,
					'ValidationError',
					`The notification URL '${String(url)}' must use https.`,
				);
		}
		const expirationDateTime = this.checkExpiry(body.expirationDateTime);
		for (const url of new Set(urls.map(String))) await this.validate(url);
		const sub: StoredSubscription = {
			id: randomUUID(),
			resource: String(body.resource),
			changeType,
			notificationUrl: String(body.notificationUrl),
			lifecycleNotificationUrl:
				body.lifecycleNotificationUrl === undefined || body.lifecycleNotificationUrl === null
					? undefined
					: String(body.lifecycleNotificationUrl),
			clientState,
			expirationDateTime,
			...target,
		};
		this.byId.set(sub.id, sub);
		this.count('created');
		return sub;
	}

	/** Graph's validation request: the endpoint must echo the token, as text/plain, within 10 s. */
	private async validate(url: string): Promise<void> {
		const token = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
		const target = new URL(url);
		target.searchParams.set('validationToken', token);
		let answer: PostResult;
		try {
			answer = await this.post(target.href, '', 'text/plain; charset=utf-8', VALIDATION_TIMEOUT_MS);
		} catch (error) {
			this.count('validation failed');
			throw new SubscriptionError(
				400,
				'ValidationError',
				`Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. (${(error as Error).message})`,
			);
		}
		if (answer.status !== 200 || answer.body !== token) {
			this.count('validation failed');
			throw new SubscriptionError(
				400,
				'ValidationError',
				answer.status !== 200
					? `Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. (HTTP ${answer.status})`
					: 'Subscription validation request failed. Response must exactly match validationToken query parameter.',
			);
		}
		this.count('validated');
	}

	renew(id: string, expirationDateTime: unknown): StoredSubscription {
		const sub = this.get(id);
		if (!sub)
			throw new SubscriptionError(
				404,
				'ResourceNotFound',
				`The object was not found. Subscription '${id}'.`,
			);
		sub.expirationDateTime = this.checkExpiry(expirationDateTime);
		this.count('renewed');
		return sub;
	}

	remove(id: string): void {
		if (!this.get(id))
			throw new SubscriptionError(
				404,
				'ResourceNotFound',
				`The object was not found. Subscription '${id}'.`,
			);
		this.byId.delete(id);
		this.count('deleted');
	}

	/** A message arrived in a folder (delivered, moved in): notify the subscriptions on it. */
	messageCreated(upn: string, folderId: string, messageId: string): void {
		for (const sub of [...this.byId.values()]) {
			if (!this.get(sub.id)) continue;
			if (sub.upn !== upn.toLowerCase() || sub.folderId !== folderId) continue;
			if (!sub.changeType.includes('created')) continue;
			if (this.mute > 0) {
				this.mute--;
				this.count('muted');
				continue;
			}
			const resource = `Users/${upn}/Messages/${messageId}`;
			this.enqueue(sub.notificationUrl, {
				subscriptionId: sub.id,
				subscriptionExpirationDateTime: sub.expirationDateTime,
				changeType: 'created',
				resource,
				resourceData: {
					'@odata.type': '#Microsoft.Graph.Message',
					'@odata.id': resource,
					'@odata.etag': `W/"${randomBytes(12).toString('base64')}"`,
					id: messageId,
				},
				clientState: sub.clientState ?? null,
				tenantId: TENANT_ID,
			});
		}
	}

	/** Leaves the next notifications unsent. */
	muteNext(count: number): void {
		this.mute += count;
	}

	/**
	 * Sends a lifecycle event for one subscription (or every one) to its lifecycle URL.
	 * `subscriptionRemoved` deletes the subscription first, as Graph does.
	 */
	lifecycle(event: string, id?: string): number {
		let sent = 0;
		for (const sub of [...this.byId.values()]) {
			if (id && sub.id !== id) continue;
			if (!sub.lifecycleNotificationUrl) continue;
			if (event === 'subscriptionRemoved') this.byId.delete(sub.id);
			this.enqueue(sub.lifecycleNotificationUrl, {
				lifecycleEvent: event,
				subscriptionId: sub.id,
				subscriptionExpirationDateTime: sub.expirationDateTime,
				clientState: sub.clientState ?? null,
				tenantId: TENANT_ID,
				organizationId: TENANT_ID,
			});
			sent++;
		}
		return sent;
	}

	private enqueue(url: string, item: Record<string, unknown>): void {
		if (this.stopped) return;
		let queue = this.queues.get(url);
		if (!queue) {
			queue = {
				items: [],
				timer: setTimeout(() => {
					this.queues.delete(url);
					void this.deliver(url, queue!.items);
				}, BATCH_MS),
			};
			this.queues.set(url, queue);
		}
		queue.items.push(item);
	}

	private async deliver(url: string, items: Record<string, unknown>[]): Promise<void> {
		const body = JSON.stringify({ value: items });
		for (let attempt = 0; ; attempt++) {
			try {
				const answer = await this.post(url, body, 'application/json', 10_000);
				if (answer.status >= 200 && answer.status < 300) {
					this.count('notifications delivered');
					this.counts.set(
						'items delivered',
						(this.counts.get('items delivered') ?? 0) + items.length,
					);
					return;
				}
				this.count(`notification answered ${answer.status}`);
			} catch {
				this.count('notification failed');
			}
			if (attempt >= RETRY_DELAYS_MS.length || this.stopped) {
				this.count('notifications dropped');
				return;
			}
			await new Promise((r) => setTimeout(r, RETRY_DELAYS_MS[attempt]));
		}
	}

	private async post(
		url: string,
		body: string,
		contentType: string,
		timeoutMs: number,
	): Promise<PostResult> {
		return await new Promise<PostResult>((resolve, reject) => {
			const req = httpsRequest(
				url,
				{
					method: 'POST',
					ca: this.ca,
					headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) },
					timeout: timeoutMs,
				},
				(res) => {
					const chunks: Buffer[] = [];
					res.on('data', (c: Buffer) => chunks.push(c));
					res.on('end', () =>
						resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
					);
					res.on('error', reject);
				},
			);
			req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
			req.on('error', reject);
			req.end(body);
		});
	}

	stop(): void {
		this.stopped = true;
		for (const q of this.queues.values()) clearTimeout(q.timer);
		this.queues.clear();
	}

	summary(): Record<string, unknown> {
		return {
			subscriptions: [...this.byId.values()].filter((s) => this.get(s.id)),
			counts: Object.fromEntries(this.counts),
		};
	}
}

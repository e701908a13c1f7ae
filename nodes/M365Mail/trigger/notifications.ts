/**
 * Microsoft Graph change notifications for the instant trigger ("New Mail Notice: Microsoft Graph").
 *
 * - n8n's webhook methods create the subscription on activation (Graph validates n8n's webhook URL
 *   first), check that it still exists, and delete it on deactivation.
 * - The webhook answers Graph's validation request, checks every notification's clientState and
 *   subscription id, and only tells the running trigger "look now": the trigger's delta query stays
 *   the source of truth, so a forged, repeated or lost notification cannot emit or lose mail.
 * - The trigger (on n8n's main process) renews the subscription before it expires, and handles the
 *   lifecycle events: `reauthorizationRequired` (renew now), `subscriptionRemoved` (subscribe
 *   again, then look), `missed` (look).
 * The webhook never writes the workflow's static data: n8n saves a webhook's copy of it after the
 * request, which would overwrite the trigger's newer cursor.
 */
import { timingSafeEqual } from 'node:crypto';

import {
	NodeOperationError,
	type IDataObject,
	type IHookFunctions,
	type INode,
	type ITriggerFunctions,
	type IWebhookFunctions,
	type IWebhookResponseData,
} from 'n8n-workflow';

import { openNodeMailbox } from '../shared/connection';
import { folderValue } from '../shared/descriptions';
import { toNodeError } from '../shared/errors';
import { readOptionsFor, toItem } from '../shared/output';
import { redactSecrets } from '../transport/auth/errors';
import {
	requireCapability,
	type ChangeSubscriptions,
	type MailSubscription,
} from '../transport/mailbox';
import { readTriggerSettings } from './settings';

/** Where the subscription is kept in the node's static data. */
const STATE_KEY = 'graphSubscription';
/** Graph's validation token is short; anything longer is not Graph's. */
const MAX_TOKEN_LENGTH = 1024;
/** How often the trigger checks whether the subscription needs renewing. */
export const RENEW_CHECK_MS = 60 * 60_000;

type HookOrWebhook = IHookFunctions | IWebhookFunctions;

/** What a mailbox without change notifications is told (IMAP). */
export const GRAPH_NOTICE_NEEDS = [
	'New Mail Notice "Microsoft Graph Change Notifications"',
	{
		protocol: 'Microsoft Graph',
		fix: 'Choose a credential whose Access is Microsoft Graph (or, app-only, Protocol "Microsoft Graph"), or set New Mail Notice to "IMAP IDLE".',
	},
] as const;

/** A running instant trigger on this process, as the webhook reaches it. */
export interface NoticeListener {
	/** New mail may be there: look now. */
	notice(): void;
	/** A lifecycle event Graph sent for the subscription. */
	lifecycle(event: string): void;
	/** The subscription the trigger holds now (it may have replaced the stored one). */
	current(): MailSubscription | undefined;
}

const listeners = new Map<string, NoticeListener>();

export function listenerKey(workflowId: string | undefined, nodeName: string): string {
	return `${workflowId ?? ''}|${nodeName}`;
}

/** Registers a running trigger; returns the function that unregisters it. */
export function listen(key: string, listener: NoticeListener): () => void {
	listeners.set(key, listener);
	return () => {
		if (listeners.get(key) === listener) listeners.delete(key);
	};
}

export function storedSubscription(staticData: IDataObject): MailSubscription | undefined {
	const value = staticData[STATE_KEY] as MailSubscription | undefined;
	return value && typeof value.id === 'string' ? value : undefined;
}

function store(staticData: IDataObject, subscription: MailSubscription | undefined): void {
	if (subscription) staticData[STATE_KEY] = { ...subscription } as unknown as IDataObject;
	else delete staticData[STATE_KEY];
}

/** The subscriptions of this node's mailbox (Graph only), and the folder it watches. */
async function graphTarget(
	ctx: HookOrWebhook | ITriggerFunctions,
): Promise<{ subscriptions: ChangeSubscriptions; folder: string }> {
	// Over Graph the mailbox opens nothing that needs closing.
	const mailbox = await openNodeMailbox(ctx);
	return {
		subscriptions: requireCapability(mailbox, mailbox.changeNotifications, ...GRAPH_NOTICE_NEEDS),
		folder: folderValue(ctx.getNodeParameter('folder')),
	};
}

/**
 * Graph only delivers to a public https address. A plain http URL is refused here, with the fix;
 * a private address is refused by Graph itself (its validation request cannot reach it).
 */
export function checkNotificationUrl(node: INode, url: string): void {
	if (!/^https:\/\//i.test(url)) {
		throw new NodeOperationError(
			node,
			`Microsoft Graph cannot send change notifications to n8n's webhook URL ${url}: it is not https`,
			{
				description:
					'Graph delivers change notifications only to a public https URL. Set n8n\'s N8N_WEBHOOK_URL (or WEBHOOK_URL) to its public https address (behind a reverse proxy or tunnel), or use New Mail Notice "IMAP IDLE" or the Microsoft 365 Mail Trigger (polling), which need no public URL.',
			},
		);
	}
}

// ---- n8n's webhook methods (activation and deactivation) ----

export async function subscriptionExists(this: IHookFunctions): Promise<boolean> {
	const staticData = this.getWorkflowStaticData('node');
	const stored = storedSubscription(staticData);
	if (!stored) return false;
	try {
		const { subscriptions, folder } = await graphTarget(this);
		const url = this.getNodeWebhookUrl('default') ?? '';
		const found = await subscriptions.read(stored.id);
		if (
			!found ||
			stored.resource !== (await subscriptions.resourceOf(folder)) ||
			stored.notificationUrl !== url
		) {
			// Gone, or made for another folder, mailbox or URL: a new one is made.
			if (found) await subscriptions.unsubscribe(stored.id);
			store(staticData, undefined);
			return false;
		}
		if (subscriptions.needsRenewal(found.expirationDateTime)) {
			store(staticData, {
				...stored,
				expirationDateTime: await subscriptions.renew(stored.id),
			});
		}
		return true;
	} catch (error) {
		throw toNodeError(this.getNode(), error);
	}
}

export async function createSubscription(this: IHookFunctions): Promise<boolean> {
	const url = this.getNodeWebhookUrl('default') ?? '';
	checkNotificationUrl(this.getNode(), url);
	try {
		const { subscriptions, folder } = await graphTarget(this);
		store(this.getWorkflowStaticData('node'), await subscriptions.subscribe(folder, url));
		return true;
	} catch (error) {
		throw toNodeError(this.getNode(), error);
	}
}

export async function removeSubscription(this: IHookFunctions): Promise<boolean> {
	const staticData = this.getWorkflowStaticData('node');
	const stored = storedSubscription(staticData);
	if (!stored) return true;
	try {
		const { subscriptions } = await graphTarget(this);
		await subscriptions.unsubscribe(stored.id);
	} catch (error) {
		// Deactivation goes on: an orphan subscription expires within days, and its notifications
		// are refused (unknown subscription id).
		this.logger.warn(
			`Microsoft 365 Mail Trigger (Instant): could not delete the Graph subscription: ${redactSecrets((error as Error).message)}`,
		);
	}
	store(staticData, undefined);
	return true;
}

// ---- the webhook ----

function sameSecret(a: unknown, b: string | undefined): boolean {
	if (typeof a !== 'string' || !b) return false;
	const x = Buffer.from(a);
	const y = Buffer.from(b);
	return x.length === y.length && timingSafeEqual(x, y);
}

interface Notification {
	subscriptionId?: unknown;
	clientState?: unknown;
	lifecycleEvent?: unknown;
	changeType?: unknown;
}

/** What a request to the webhook holds, judged against the subscription expected. */
export function judgeNotifications(
	body: unknown,
	expected: MailSubscription | undefined,
): { notices: number; lifecycle: string[]; refused: number } {
	const value = (body as { value?: unknown })?.value;
	const list = Array.isArray(value) ? (value.slice(0, 1000) as Notification[]) : [];
	let notices = 0;
	let refused = 0;
	const lifecycle: string[] = [];
	for (const n of list) {
		if (
			!expected ||
			typeof n !== 'object' ||
			n === null ||
			n.subscriptionId !== expected.id ||
			!sameSecret(n.clientState, expected.clientState)
		) {
			refused++;
			continue;
		}
		if (typeof n.lifecycleEvent === 'string') lifecycle.push(n.lifecycleEvent);
		else notices++;
	}
	return { notices, lifecycle, refused };
}

export async function receiveNotification(this: IWebhookFunctions): Promise<IWebhookResponseData> {
	const res = this.getResponseObject();
	const token = (this.getQueryData() as IDataObject).validationToken;
	if (typeof token === 'string') {
		// Graph's validation request: echo the token, as plain text, nothing else.
		if (token.length > MAX_TOKEN_LENGTH) res.status(400).end();
		else res.status(200).type('text/plain').send(token);
		return { noWebhookResponse: true };
	}
	const node = this.getNode();
	const listener = listeners.get(listenerKey(this.getWorkflow().id, node.name));
	const expected = listener?.current() ?? storedSubscription(this.getWorkflowStaticData('node'));
	const { notices, lifecycle, refused } = judgeNotifications(this.getBodyData(), expected);
	if (refused)
		this.logger.warn(
			`Microsoft 365 Mail Trigger (Instant): refused ${refused} notification(s) whose subscription or clientState is not this trigger's`,
		);
	if (this.getMode() === 'manual' && notices > 0) {
		// "Fetch Test Event" listening: the newest matching message is the sample, nothing changed.
		try {
			return { workflowData: [[await sample(this)]] };
		} catch (error) {
			throw toNodeError(node, error);
		}
	}
	res.status(202).end();
	if (listener) {
		for (const event of lifecycle) listener.lifecycle(event);
		if (notices > 0) listener.notice();
	}
	return { noWebhookResponse: true };
}

async function sample(ctx: IWebhookFunctions) {
	const settings = readTriggerSettings(ctx as unknown as ITriggerFunctions);
	const mailbox = await openNodeMailbox(ctx);
	try {
		const source = mailbox.watch({
			folder: settings.folder,
			filters: settings.filters,
			...readOptionsFor(settings.output),
		});
		const found = await source.sample();
		if (!found)
			throw new NodeOperationError(
				ctx.getNode(),
				`No message in "${settings.folder}" matches the filters`,
				{
					description: 'Send a message to the folder, or loosen the filters, and try again.',
				},
			);
		const item = await toItem(
			found,
			settings.output,
			async (data, name, mime) => await ctx.helpers.prepareBinaryData(data, name, mime),
		);
		item.json.delivery = { attempt: 1, firstEmittedAt: new Date().toISOString() };
		return item;
	} finally {
		await mailbox.close();
	}
}

// ---- the trigger's side ----

/**
 * Keeps the trigger's subscription alive while it runs: renews it before it expires, answers
 * lifecycle events, and subscribes again when Graph removed it. Returns the listener to register.
 */
export function keepSubscription(
	ctx: ITriggerFunctions,
	subscriptions: ChangeSubscriptions,
	folder: string,
	look: () => void,
): { listener: NoticeListener; follow: () => void; stop: () => Promise<void> } {
	const staticData = ctx.getWorkflowStaticData('node');
	/** Subscriptions this trigger made itself (after a removal): deleted when it stops. */
	const made = new Set<string>();
	let busy: Promise<void> = Promise.resolve();
	let stopped = false;
	const warn = (what: string, error: unknown) =>
		ctx.logger.warn(
			`Microsoft 365 Mail Trigger (Instant): ${what}: ${redactSecrets((error as Error).message)}`,
		);
	const serial = (work: () => Promise<void>) => {
		busy = busy.then(async () => {
			if (!stopped) await work();
		});
		return busy;
	};
	const subscribeAgain = async () => {
		const old = storedSubscription(staticData);
		if (!old) return;
		try {
			const fresh = await subscriptions.subscribe(folder, old.notificationUrl);
			store(staticData, fresh);
			made.add(fresh.id);
			ctx.logger.info(
				'Microsoft 365 Mail Trigger (Instant): Microsoft Graph removed the subscription; subscribed again',
			);
		} catch (error) {
			ctx.emitError(toNodeError(ctx.getNode(), error));
		}
	};
	/** A catch-up found the folder created again: the subscription moves to the folder there now. */
	const follow = () =>
		void serial(async () => {
			const old = storedSubscription(staticData);
			try {
				if (!old || old.resource === (await subscriptions.resourceOf(folder))) return;
				const fresh = await subscriptions.subscribe(folder, old.notificationUrl);
				store(staticData, fresh);
				made.add(fresh.id);
				await subscriptions.unsubscribe(old.id);
				ctx.logger.info(
					'Microsoft 365 Mail Trigger (Instant): the folder was created again; subscribed to the new one',
				);
			} catch (error) {
				warn('subscribing to the folder created again failed (catch-ups bring its mail)', error);
			}
		});
	const renew = async (force: boolean) => {
		const current = storedSubscription(staticData);
		if (!current || (!force && !subscriptions.needsRenewal(current.expirationDateTime))) return;
		try {
			store(staticData, {
				...current,
				expirationDateTime: await subscriptions.renew(current.id),
			});
		} catch (error) {
			if ((error as { httpStatus?: number }).httpStatus === 404) await subscribeAgain();
			else
				warn('renewing the Graph subscription failed (it is tried again within the hour)', error);
		}
	};
	const timer = setInterval(() => void serial(async () => await renew(false)), RENEW_CHECK_MS);
	const listener: NoticeListener = {
		notice: look,
		current: () => storedSubscription(staticData),
		lifecycle: (event) => {
			if (event === 'reauthorizationRequired') void serial(async () => await renew(true));
			else if (event === 'subscriptionRemoved')
				void serial(async () => {
					await subscribeAgain();
					look();
				});
			else look(); // `missed`, and any event not known yet: the delta query catches up
		},
	};
	return {
		listener,
		follow,
		stop: async () => {
			stopped = true;
			clearInterval(timer);
			await busy.catch(() => undefined);
			for (const id of made) {
				try {
					await subscriptions.unsubscribe(id);
				} catch (error) {
					warn('could not delete the Graph subscription', error);
				}
			}
		},
	};
}

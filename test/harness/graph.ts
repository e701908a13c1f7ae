/** Test-side controls of the Graph emulator (it runs in the stack process). */
import { buildMail, type TestMail } from './mail';
import { stackInfo } from './stack';

async function control<T = Record<string, unknown>>(path: string, body?: unknown): Promise<T> {
	const response = await fetch(`${stackInfo().graphUrl}/_test/${path}`, {
		method: body === undefined ? 'GET' : 'POST',
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	if (!response.ok)
		throw new Error(`graph control ${path}: ${response.status} ${await response.text()}`);
	return (await response.json()) as T;
}

export const GRAPH_SCOPES =
	'openid profile email offline_access https://graph.microsoft.com/Mail.ReadWrite https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read';
export const GRAPH_SHARED_SCOPES = `${GRAPH_SCOPES} https://graph.microsoft.com/Mail.ReadWrite.Shared https://graph.microsoft.com/Mail.Send.Shared`;

/** Delivers a message into a mailbox folder of the emulator; returns its Graph id. */
export async function graphDeliver(
	mailbox: string,
	mail: TestMail | Buffer,
	folder = 'inbox',
	receivedDateTime?: string,
): Promise<string> {
	const raw = Buffer.isBuffer(mail) ? mail : await buildMail(mail);
	const { id } = await control<{ id: string }>('deliver', {
		mailbox,
		folder,
		raw: raw.toString('base64'),
		receivedDateTime,
	});
	return id;
}

export async function graphFolder(mailbox: string, path: string): Promise<string> {
	return (await control<{ id: string }>('folder', { mailbox, path })).id;
}

export async function graphMoveByRule(mailbox: string, id: string, folder: string): Promise<void> {
	await control('move-by-rule', { mailbox, id, folder });
}

/**
 * The next `count` Graph requests (or the next ones whose "METHOD /path?query", query decoded,
 * matches `match`) answer `status`; with `after`, once that many more have been answered as usual
 * (each request inside a $batch counts). graphFaultsServed counts the failures so answered.
 */
export async function graphInject(
	status: number,
	count: number,
	retryAfter?: string,
	match?: string,
	after = 0,
): Promise<void> {
	await control('inject', { status, count, retryAfter, match, after });
}

/**
 * The next `count` message listings whose "METHOD /path?query" (query decoded) matches order the
 * messages of one received time the other way round (Graph documents no order for them).
 */
export async function graphReverseTies(count: number, match: string): Promise<void> {
	await control('reverse-ties', { count, match });
}

/** The next `count` delta rounds send the previous round's changes again (Graph's replays). */
export async function graphReplayDelta(count = 1): Promise<void> {
	await control('replay-delta', { count });
}

/** Deletes the folder with its mail and creates it again under the same path (a new id). */
export async function graphRecreateFolder(mailbox: string, path: string): Promise<string> {
	return (await control<{ id: string }>('recreate-folder', { mailbox, path })).id;
}

export async function graphExpireDelta(): Promise<void> {
	await control('expire-delta', {});
}

export async function graphList(mailbox: string, folder: string): Promise<ListedMessage[]> {
	const url = `list?mailbox=${encodeURIComponent(mailbox)}&folder=${encodeURIComponent(folder)}`;
	return (await control<{ value: ListedMessage[] }>(url)).value;
}

/** A message as the emulator lists it (the fields tests read). */
export interface ListedMessage {
	id: string;
	subject: string;
	isRead: boolean;
	receivedDateTime: string;
	flag?: { flagStatus: string };
}

export async function graphRequests(): Promise<number> {
	return (await control<{ requests: number }>('counts')).requests;
}

/** Request counts by kind ("POST /sendMail", "PUT upload", "DROPPED"...). */
export async function graphCounts(): Promise<Record<string, number>> {
	return (await control<{ byKind: Record<string, number> }>('counts')).byKind;
}

/** Injected failures Graph has answered (graphInject) and connections it dropped (graphDrop), so far. */
export async function graphFaultsServed(): Promise<{ failed: number; dropped: number }> {
	const counts = await graphCounts();
	return { failed: counts.FAILED ?? 0, dropped: counts.DROPPED ?? 0 };
}

/** The next `count` requests (matching "METHOD /path" when given) lose their connection unanswered. */
export async function graphDrop(count: number, match?: string): Promise<void> {
	await control('drop', { count, match });
}

/** The message is deleted for good right after the next request matching "METHOD /path" is answered. */
export async function graphVanishAfter(match: string, mailbox: string, id: string): Promise<void> {
	await control('vanish-after', { match, mailbox, id });
}

/** A message's MIME as stored in the emulator (what its recipient got). */
export async function graphRaw(mailbox: string, id: string): Promise<Buffer> {
	const url = `raw?mailbox=${encodeURIComponent(mailbox)}&id=${encodeURIComponent(id)}`;
	return Buffer.from((await control<{ raw: string }>(url)).raw, 'base64');
}

export interface EmulatedSubscription {
	id: string;
	notificationUrl: string;
	lifecycleNotificationUrl?: string;
	expirationDateTime: string;
	folderId: string;
	upn: string;
}

/** The emulator's live change-notification subscriptions, and what it sent (by outcome). */
export async function graphSubscriptions(): Promise<{
	subscriptions: EmulatedSubscription[];
	counts: Record<string, number>;
}> {
	return await control('subscriptions');
}

/** Sends a lifecycle event (reauthorizationRequired, subscriptionRemoved, missed) to one or all. */
export async function graphLifecycle(event: string, id?: string): Promise<number> {
	return (await control<{ sent: number }>('lifecycle', { event, id })).sent;
}

/** The next `count` change notifications are not sent (what a `missed` event then reports). */
export async function graphMuteNotifications(count: number): Promise<void> {
	await control('mute-notifications', { count });
}

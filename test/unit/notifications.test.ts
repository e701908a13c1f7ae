/**
 * The Graph change-notification webhook's own decisions: what it echoes, what it accepts, what it
 * refuses, and when the subscription is renewed. (The whole path runs in real n8n in
 * test/e2e/graph-instant.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { INode, IWebhookFunctions } from 'n8n-workflow';

import {
	checkNotificationUrl,
	judgeNotifications,
	listen,
	listenerKey,
	receiveNotification,
} from '../../nodes/M365Mail/trigger/notifications';
import {
	needsRenewal,
	RENEW_WHEN_LEFT_MS,
	SUBSCRIPTION_LIFETIME_MS,
} from '../../nodes/M365Mail/transport/graph/subscriptions';

const SUB = {
	id: 'sub-1',
	clientState: 'a-long-random-secret',
	expirationDateTime: new Date(Date.now() + SUBSCRIPTION_LIFETIME_MS).toISOString(),
	notificationUrl: 'https://n8n.example.com/webhook/x/graph-notifications',
	resource: "me/mailFolders('f')/messages",
};
const node = { name: 'New Mail', type: 'm365MailInstantTrigger' } as unknown as INode;

/** A webhook call as n8n hands it to the node, with the response it sends recorded. */
function webhookCall(query: Record<string, unknown>, body: unknown, workflowId = 'wf-1') {
	const sent: { status?: number; type?: string; body?: unknown; ended: boolean } = { ended: false };
	const warnings: string[] = [];
	const res = {
		status(code: number) {
			sent.status = code;
			return res;
		},
		type(value: string) {
			sent.type = value;
			return res;
		},
		send(value: unknown) {
			sent.body = value;
			sent.ended = true;
			return res;
		},
		end() {
			sent.ended = true;
			return res;
		},
	};
	const ctx = {
		getResponseObject: () => res,
		getQueryData: () => query,
		getBodyData: () => body,
		getNode: () => node,
		getWorkflow: () => ({ id: workflowId }),
		getWorkflowStaticData: () => ({ graphSubscription: SUB }),
		getMode: () => 'webhook',
		logger: { warn: (m: string) => warnings.push(m) },
	} as unknown as IWebhookFunctions;
	return { ctx, sent, warnings };
}

describe('Graph change notifications: the webhook', () => {
	it("echoes Graph's validation token as plain text, and nothing longer than a token", async () => {
		const token = 'Validation: Testing client application reachability <script>';
		const call = webhookCall({ validationToken: token }, {});
		assert.deepEqual(await receiveNotification.call(call.ctx), { noWebhookResponse: true });
		assert.deepEqual(call.sent, { status: 200, type: 'text/plain', body: token, ended: true });

		const long = webhookCall({ validationToken: 'x'.repeat(5000) }, {});
		await receiveNotification.call(long.ctx);
		assert.equal(long.sent.status, 400);
		assert.equal(long.sent.body, undefined);
	});

	it('tells the running trigger to look only for notifications of its subscription with its clientState; lifecycle events go to it by name', async () => {
		const seen: string[] = [];
		const stop = listen(listenerKey('wf-1', 'New Mail'), {
			notice: () => seen.push('notice'),
			lifecycle: (event) => seen.push(event),
			current: () => SUB,
		});
		try {
			const good = { subscriptionId: SUB.id, clientState: SUB.clientState, changeType: 'created' };
			const call = webhookCall({}, { value: [good, good] });
			await receiveNotification.call(call.ctx);
			assert.equal(call.sent.status, 202);
			assert.deepEqual(seen, ['notice'], 'two notices in one batch: one look');

			seen.length = 0;
			const forged = webhookCall(
				{},
				{
					value: [
						{ ...good, clientState: 'guessed' },
						{ ...good, subscriptionId: 'another' },
						{ ...good, clientState: undefined },
					],
				},
			);
			await receiveNotification.call(forged.ctx);
			assert.equal(forged.sent.status, 202);
			assert.deepEqual(seen, []);
			assert.match(forged.warnings.join('\n'), /refused 3 notification/);

			seen.length = 0;
			const lifecycle = webhookCall(
				{},
				{ value: [{ ...good, lifecycleEvent: 'reauthorizationRequired' }] },
			);
			await receiveNotification.call(lifecycle.ctx);
			assert.deepEqual(seen, ['reauthorizationRequired']);
		} finally {
			stop();
		}
	});

	it('judges a batch: no subscription known refuses all; a body that is not a batch is nothing', () => {
		const good = { subscriptionId: SUB.id, clientState: SUB.clientState };
		assert.deepEqual(judgeNotifications({ value: [good] }, undefined), {
			notices: 0,
			lifecycle: [],
			refused: 1,
		});
		for (const body of [undefined, null, 'text', { value: 'x' }, { value: [null, 3] }]) {
			assert.equal(judgeNotifications(body, SUB).notices, 0);
		}
		assert.deepEqual(
			judgeNotifications({ value: [good, { ...good, lifecycleEvent: 'missed' }] }, SUB),
			{ notices: 1, lifecycle: ['missed'], refused: 0 },
		);
	});
});

describe('Graph change notifications: activation checks and renewal', () => {
	it('refuses a webhook URL that is not https, naming WEBHOOK_URL and the triggers that need none', () => {
		assert.throws(
			() => checkNotificationUrl(node, 'http://localhost:5678/webhook/x/graph-notifications'),
			(error: Error & { description?: string }) =>
				/not https/.test(error.message) &&
				/WEBHOOK_URL/.test(String(error.description)) &&
				/IMAP IDLE/.test(String(error.description)) &&
				/polling/.test(String(error.description)),
		);
		assert.doesNotThrow(() => checkNotificationUrl(node, SUB.notificationUrl));
	});

	it('renews when less than two days are left of a three-day subscription (within 10,080 minutes)', () => {
		const now = Date.now();
		assert.ok(SUBSCRIPTION_LIFETIME_MS <= 10_080 * 60_000);
		assert.equal(needsRenewal(new Date(now + SUBSCRIPTION_LIFETIME_MS).toISOString(), now), false);
		assert.equal(needsRenewal(new Date(now + RENEW_WHEN_LEFT_MS - 1).toISOString(), now), true);
		assert.equal(needsRenewal('not a date', now), true);
	});
});

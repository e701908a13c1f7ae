/**
 * The delegated Graph path through n8n's `httpRequestWithAuthentication`: what the sender makes of
 * the answers n8n's helper gives (a full response, or a NodeApiError around the HTTP error), and the
 * client's one refresh when an older n8n hands a 401 back instead of refreshing. n8n's helper is
 * stood in by a function here; the real one runs in the integration and e2e suites.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { NodeApiError, type IExecuteFunctions, type INode } from 'n8n-workflow';

import { resolveCloud, type CloudSettings } from '../../nodes/M365Mail/transport/auth/clouds';
import { MailServiceError } from '../../nodes/M365Mail/transport/auth/errors';
import type { AccessTokenProvider } from '../../nodes/M365Mail/transport/auth/tokens';
import { n8nGraphSender } from '../../nodes/M365Mail/transport/connection';
import {
	GraphClient,
	GraphNetworkError,
	type GraphHttpRequest,
} from '../../nodes/M365Mail/transport/graph/client';

const NODE: INode = {
	id: '1',
	name: 'Microsoft 365 Mail',
	type: 'n8n-nodes-m365-mail.m365Mail',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
};

/** An n8n context whose authenticated helper answers with `answer` and records the options. */
function context(answer: (options: Record<string, unknown>) => unknown) {
	const calls: Array<Record<string, unknown>> = [];
	const ctx = {
		helpers: {
			async httpRequestWithAuthentication(_type: string, options: Record<string, unknown>) {
				calls.push(options);
				return answer(options);
			},
		},
	} as unknown as IExecuteFunctions;
	return { ctx, calls };
}

/** What n8n throws for an HTTP error: a NodeApiError whose cause is the axios error. */
function httpError(status: number, body: unknown, headers: Record<string, string> = {}) {
	const axiosError = Object.assign(new Error(`Request failed with status code ${status}`), {
		isAxiosError: true,
		response: {
			status,
			statusText: 'Error',
			headers,
			data: Buffer.from(JSON.stringify(body)),
		},
	});
	return new NodeApiError(NODE, axiosError as never);
}

const REQUEST: GraphHttpRequest = {
	method: 'GET',
	url: 'https://graph.example.test/v1.0/me/mailFolders',
	headers: { prefer: 'IdType="ImmutableId"' },
};

describe('delegated Graph requests through n8n’s authenticated helper', () => {
	it('asks n8n to throw only on 401 (so it refreshes), for raw bytes and the full response', async () => {
		const { ctx, calls } = context(() => ({
			statusCode: 200,
			statusMessage: 'OK',
			headers: { 'Content-Type': 'application/json' },
			body: Buffer.from('{"value":[]}'),
		}));
		const response = await n8nGraphSender(ctx, 'm365MailOAuth2Api').send(REQUEST);
		assert.equal(response.status, 200);
		assert.equal(response.header('content-type'), 'application/json');
		assert.equal(response.body.toString(), '{"value":[]}');
		assert.equal(calls.length, 1);
		assert.deepEqual(calls[0].ignoreHttpStatusErrors, { ignore: true, except: [401] });
		assert.equal(calls[0].encoding, 'arraybuffer');
		assert.equal(calls[0].returnFullResponse, true);
		// n8n signs the request: the client adds no Authorization header of its own.
		assert.equal((calls[0].headers as Record<string, string>).authorization, undefined);
	});

	it('an HTTP error that n8n wrapped comes back as Graph’s answer, Retry-After included', async () => {
		const { ctx } = context(() => {
			throw httpError(
				429,
				{ error: { code: 'TooManyRequests', message: 'slow down' } },
				{ 'Retry-After': '7' },
			);
		});
		const response = await n8nGraphSender(ctx, 'm365MailOAuth2Api').send(REQUEST);
		assert.equal(response.status, 429);
		assert.equal(response.header('retry-after'), '7');
		assert.match(response.body.toString(), /TooManyRequests/);
	});

	it('no answer at all is a network error the client may retry', async () => {
		const { ctx } = context(() => {
			const reset = Object.assign(new Error('socket hang up'), {
				isAxiosError: true,
				code: 'ECONNRESET',
			});
			throw new NodeApiError(NODE, reset as never);
		});
		await assert.rejects(
			n8nGraphSender(ctx, 'm365MailOAuth2Api').send(REQUEST),
			(e: GraphNetworkError) => e instanceof GraphNetworkError && e.code === 'ECONNRESET',
		);
	});

	it('a stopped execution (request cancelled) is not retried', async () => {
		const { ctx, calls } = context(() => {
			const canceled = Object.assign(new Error('canceled'), {
				isAxiosError: true,
				code: 'ERR_CANCELED',
			});
			throw new NodeApiError(NODE, canceled as never);
		});
		const client = new GraphClient({
			cloud: resolveCloud({ cloud: 'global' } as CloudSettings),
			tokens: {
				kind: 'delegated',
				getAccessToken: async () => 'unused',
				signedInMailbox: async () => undefined,
			},
			sender: n8nGraphSender(ctx, 'm365MailOAuth2Api'),
		});
		await assert.rejects(
			client.request({ path: '/messages' }),
			(e: MailServiceError) => e.code === 'ERR_CANCELED' && /cancelled/.test(e.message),
		);
		assert.equal(calls.length, 1);
	});

	it('a credential never connected, or a refresh n8n could not do, names the fix', async () => {
		const notConnected = context(() => {
			throw new NodeApiError(NODE, new Error('OAuth credentials not connected') as never);
		});
		await assert.rejects(
			n8nGraphSender(notConnected.ctx, 'm365MailOAuth2Api').send(REQUEST),
			(e: MailServiceError) => e.kind === 'reconnect' && /Connect/.test(e.fix),
		);
		const badSecret = context(() => {
			// As client-oauth2's AuthError: code EAUTH and Microsoft's error body.
			const authError = Object.assign(new Error('invalid_client'), {
				code: 'EAUTH',
				body: {
					error: 'invalid_client',
					error_description:
						'AADSTS7000215: Invalid client secret provided. Ensure the secret being sent is the value.',
				},
			});
			throw new NodeApiError(NODE, authError as never);
		});
		await assert.rejects(
			n8nGraphSender(badSecret.ctx, 'm365MailOAuth2Api').send(REQUEST),
			(e: MailServiceError) => e instanceof MailServiceError && e.code === 'AADSTS7000215',
		);
	});

	it('an older n8n that hands a 401 back: the client refreshes once through the token module and tries again', async () => {
		let answers = 0;
		const { ctx, calls } = context(() => {
			answers++;
			if (answers === 1) {
				return {
					statusCode: 401,
					headers: {},
					body: Buffer.from('{"error":{"code":"InvalidAuthenticationToken","message":"expired"}}'),
				};
			}
			return { statusCode: 200, headers: {}, body: Buffer.from('{"id":"x"}') };
		});
		const refreshes: boolean[] = [];
		const tokens: AccessTokenProvider = {
			kind: 'delegated',
			async getAccessToken(_resource, options) {
				refreshes.push(options?.forceRefresh === true);
				return 'refreshed';
			},
			async signedInMailbox() {
				return undefined;
			},
		};
		const client = new GraphClient({
			cloud: resolveCloud({ cloud: 'global' } as CloudSettings),
			tokens,
			sender: n8nGraphSender(ctx, 'm365MailOAuth2Api'),
		});
		assert.deepEqual(await client.request({ path: '/messages/x' }), { id: 'x' });
		assert.equal(calls.length, 2);
		assert.deepEqual(refreshes, [true]);
		// A second 401 is Graph's final word: mapped, not refreshed again.
		answers = 0;
		const always401 = context(() => ({
			statusCode: 401,
			headers: {},
			body: Buffer.from('{"error":{"code":"InvalidAuthenticationToken","message":"bad audience"}}'),
		}));
		const stubborn = new GraphClient({
			cloud: resolveCloud({ cloud: 'global' } as CloudSettings),
			tokens,
			sender: n8nGraphSender(always401.ctx, 'm365MailOAuth2Api'),
		});
		await assert.rejects(
			stubborn.request({ path: '/messages/x' }),
			(e: MailServiceError) => e.code === 'InvalidAuthenticationToken' && /Reconnect/.test(e.fix),
		);
		assert.equal(always401.calls.length, 2);
	});
});

/**
 * Every Microsoft Graph request goes through here: `/me` or `/users/{mailbox}` (validated before any
 * request), the cloud's Graph host, `Prefer: IdType="ImmutableId"` on every call, `@odata.nextLink`
 * followed verbatim, at most 4 requests in flight per mailbox, and 429/503 honoured with Retry-After
 * (seconds or an HTTP date) for idempotent requests only: a send is never retried.
 */
import type { CloudEndpoints } from '../auth/clouds';
import { mapNetworkError } from '../auth/connectionErrors';
import { MailServiceError } from '../auth/errors';
import type { AccessTokenProvider } from '../auth/tokens';
import { mapGraphError, retryAfterMs, type GraphErrorBody } from './errors';

/** One HTTP exchange, as the client hands it to a sender. */
export interface GraphHttpRequest {
	method: NonNullable<GraphRequest['method']>;
	url: string;
	headers: Record<string, string>;
	body?: string | Buffer;
}

export interface GraphHttpResponse {
	status: number;
	statusText: string;
	/** A response header by its lower-case name. */
	header(name: string): string | undefined;
	body: Buffer;
}

/** A request that got no HTTP answer (refused, reset, TLS): the client retries or maps it. */
export class GraphNetworkError extends Error {
	constructor(
		message: string,
		readonly code?: string,
	) {
		super(message);
	}
}

/**
 * Sends one request and returns Graph's answer whatever its status; throws GraphNetworkError when
 * there was none. A sender that `signs` adds the bearer token itself (n8n's authenticated request
 * helper, which refreshes and persists delegated tokens); otherwise the client adds it.
 */
export interface GraphSender {
	readonly signs: boolean;
	send(request: GraphHttpRequest): Promise<GraphHttpResponse>;
}

/** Plain fetch: app-only tokens (MSAL) and upload URLs, which carry their own authorization. */
export const fetchSender: GraphSender = {
	signs: false,
	async send(request) {
		let response: Response;
		try {
			response = await fetch(request.url, {
				method: request.method,
				headers: request.headers,
				body: request.body,
			});
		} catch (error) {
			const cause = (error as { cause?: { code?: string; message?: string } }).cause;
			throw new GraphNetworkError(cause?.message ?? (error as Error).message, cause?.code);
		}
		let body: Buffer;
		try {
			body = Buffer.from(await response.arrayBuffer());
		} catch (error) {
			throw new GraphNetworkError((error as Error).message, 'ECONNRESET');
		}
		return {
			status: response.status,
			statusText: response.statusText,
			header: (name) => response.headers.get(name) ?? undefined,
			body,
		};
	},
};

export interface GraphClientOptions {
	cloud: CloudEndpoints;
	tokens: AccessTokenProvider;
	/** How requests go out; plain fetch unless n8n's authenticated helper is given. */
	sender?: GraphSender;
	/** Another mailbox (shared, or any for app-only); empty = the signed-in user (`/me`). */
	mailbox?: string;
	/** Attempts for a throttled idempotent request. */
	maxAttempts?: number;
	/** Longest single wait for Retry-After; a longer one fails with a clear error. */
	maxWaitMs?: number;
	sleep?: (ms: number) => Promise<void>;
}

export interface GraphRequest {
	method?: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
	/** A path below the mailbox (`/messages/...`) or an absolute URL Graph returned (nextLink). */
	path: string;
	query?: Record<string, string>;
	body?: unknown;
	/** A text body (base64 MIME for sendMail). */
	text?: string;
	/** Extra Prefer values (odata.maxpagesize=...). */
	prefer?: string[];
	/** Whether the request may be sent again after 429/503 or a dropped connection. */
	idempotent?: boolean;
	/** Return the body as bytes ($value). */
	binary?: boolean;
	/** A binary body (a range of an upload session). */
	bytes?: Buffer;
	/** Extra request headers (Content-Range). */
	headers?: Record<string, string>;
	/**
	 * An upload URL carries its own authorization: no bearer token is sent with it (Graph refuses
	 * the PUT with one).
	 */
	anonymous?: boolean;
}

const MAX_IN_FLIGHT = 4;
const inFlight = new Map<string, { running: number; waiting: Array<() => void> }>();

async function acquire(key: string): Promise<() => void> {
	let slot = inFlight.get(key);
	if (!slot) {
		slot = { running: 0, waiting: [] };
		inFlight.set(key, slot);
	}
	const s = slot;
	if (s.running >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => s.waiting.push(resolve));
	s.running++;
	return () => {
		s.running--;
		s.waiting.shift()?.();
		if (!s.running && !s.waiting.length) inFlight.delete(key);
	};
}

/** Graph answers at most this many requests in one `$batch`. */
export const GRAPH_BATCH_LIMIT = 20;

const MAILBOX_PATTERN = /^[^\s@/?#]+@[^\s@/?#]+$/;

export class GraphClient {
	readonly mailbox: string;
	readonly base: string;
	private readonly maxAttempts: number;
	private readonly maxWaitMs: number;
	private readonly sleep: (ms: number) => Promise<void>;

	constructor(private readonly options: GraphClientOptions) {
		const mailbox = (options.mailbox ?? '').trim();
		if (mailbox && !MAILBOX_PATTERN.test(mailbox)) {
			throw new MailServiceError(
				`"${mailbox}" is not a mailbox address`,
				'Enter the mailbox as an email address (UPN), for example shared@contoso.com.',
				'input',
			);
		}
		if (!mailbox && options.tokens.kind === 'appOnly') {
			throw new MailServiceError(
				'Mailbox is required',
				'App-only credentials have no signed-in user: enter the address of the mailbox.',
				'input',
			);
		}
		this.mailbox = mailbox;
		this.base = `${options.cloud.graphUrl.replace(/\/+$/, '')}/v1.0/${mailbox ? `users/${encodeURIComponent(mailbox)}` : 'me'}`;
		this.maxAttempts = options.maxAttempts ?? 5;
		this.maxWaitMs = options.maxWaitMs ?? 60_000;
		this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
	}

	/** Whether a URL is on this credential's Graph endpoint, under this mailbox's API root. */
	isOwnUrl(href: string): boolean {
		try {
			const url = new URL(href);
			const own = new URL(this.base);
			return url.origin === own.origin && url.pathname.startsWith('/v1.0/');
		} catch {
			return false;
		}
	}

	/** One request; JSON (or bytes) back. Throws a MailServiceError that names the fix. */
	async request<T = Record<string, unknown>>(request: GraphRequest): Promise<T> {
		const method = request.method ?? 'GET';
		const idempotent =
			request.idempotent ??
			(method === 'GET' || method === 'PATCH' || method === 'PUT' || method === 'DELETE');
		const url = new URL(
			/^https?:\/\//.test(request.path) ? request.path : `${this.base}${request.path}`,
		);
		// A link Graph wrote (nextLink, deltaLink, a stored cursor) gets the token only on our Graph host.
		if (!request.anonymous && !this.isOwnUrl(url.href)) {
			throw new MailServiceError(
				`Refusing to send the Microsoft Graph token to ${url.origin}: it is not this credential's Graph endpoint`,
				'A stored link names another host (a workflow built against another cloud or endpoint, or imported static data): the trigger starts a new baseline; elsewhere, check the ids and links passed in.',
				'input',
				'ForeignGraphOrigin',
			);
		}
		for (const [k, v] of Object.entries(request.query ?? {})) url.searchParams.set(k, v);
		const appOnly = this.options.tokens.kind === 'appOnly';
		const label = this.mailbox || 'the signed-in user’s mailbox';
		let refreshed = false;
		for (let attempt = 1; ; attempt++) {
			const sender = request.anonymous ? fetchSender : (this.options.sender ?? fetchSender);
			const headers: Record<string, string> = { ...request.headers };
			if (!request.anonymous) {
				if (!sender.signs) {
					const token = await this.options.tokens.getAccessToken('graph', {
						forceRefresh: refreshed,
					});
					headers.authorization = `Bearer ${token}`;
				}
				headers.prefer = ['IdType="ImmutableId"', ...(request.prefer ?? [])].join(', ');
			}
			let body: string | Buffer | undefined;
			if (request.bytes !== undefined) {
				headers['content-type'] = 'application/octet-stream';
				body = request.bytes;
			} else if (request.text !== undefined) {
				headers['content-type'] = 'text/plain';
				body = request.text;
			} else if (request.body !== undefined) {
				headers['content-type'] = 'application/json';
				body = JSON.stringify(request.body);
			}
			const release = await acquire(`${this.options.cloud.graphUrl}|${label.toLowerCase()}`);
			let response: GraphHttpResponse;
			try {
				response = await sender.send({ method, url: url.toString(), headers, body });
			} catch (error) {
				release();
				if (!(error instanceof GraphNetworkError)) throw error;
				if (idempotent && attempt < this.maxAttempts) {
					await this.sleep(Math.min(1000 * attempt, this.maxWaitMs));
					continue;
				}
				throw mapNetworkError({ code: error.code, message: error.message }, 'Graph');
			}
			try {
				if (response.status >= 200 && response.status < 300) {
					if (request.binary) return response.body as T;
					const text = response.body.toString('utf8');
					return (text ? JSON.parse(text) : {}) as T;
				}
				let errorBody: GraphErrorBody = {};
				try {
					errorBody = JSON.parse(response.body.toString('utf8')) as GraphErrorBody;
				} catch {
					// not JSON: the status alone is mapped
				}
				const code = errorBody.error?.code ?? '';
				if (response.status === 401 && !refreshed && !request.anonymous) {
					// A 401 was not processed: a fresh token and one more try is safe for any request.
					// (n8n's helper already refreshed once on a 401; a second 401 after that is real,
					// but an older n8n hands the 401 back unrefreshed, and this refresh persists too.)
					refreshed = true;
					if (sender.signs)
						await this.options.tokens.getAccessToken('graph', { forceRefresh: true });
					continue;
				}
				if ((response.status === 429 || response.status === 503) && idempotent) {
					const wait =
						retryAfterMs(response.header('retry-after') ?? null) ??
						Math.min(2 ** attempt * 1000, 30_000);
					if (wait > this.maxWaitMs || attempt >= this.maxAttempts) {
						throw new MailServiceError(
							`Microsoft Graph kept throttling ${label} (${response.status}, asked to wait ${Math.round(wait / 1000)} s)`,
							'Nothing was lost: the next poll or run tries again. Lower the poll frequency or the number of items if it persists.',
							'throttled',
							code || String(response.status),
							response.status,
						);
					}
					await this.sleep(wait);
					continue;
				}
				throw mapGraphError(
					response.status,
					code,
					errorBody.error?.message ?? response.statusText,
					label,
					appOnly,
				);
			} finally {
				release();
			}
		}
	}

	/**
	 * GET requests below the mailbox in JSON batches of 20 (Graph's `$batch`): one request for 20
	 * reads. Each answer is the body, or the mapped error of that one read; reads Graph throttled
	 * inside a batch (429/503) are sent again, as Retry-After asks, up to the client's attempts.
	 */
	async getMany<T>(
		requests: Array<{ path: string; query?: Record<string, string> }>,
	): Promise<Array<T | MailServiceError>> {
		return await this.batch<T>(requests.map((r) => ({ ...r, method: 'GET' as const })));
	}

	/** PATCH requests (each safe to send twice) in batches of 20, answered as `getMany` answers. */
	async patchMany(
		requests: Array<{ path: string; body: Record<string, unknown> }>,
	): Promise<Array<unknown | MailServiceError>> {
		return await this.batch(requests.map((r) => ({ ...r, method: 'PATCH' as const })));
	}

	private async batch<T>(
		requests: Array<{
			method: 'GET' | 'PATCH';
			path: string;
			query?: Record<string, string>;
			body?: Record<string, unknown>;
		}>,
	): Promise<Array<T | MailServiceError>> {
		const results: Array<T | MailServiceError> = new Array(requests.length);
		const root = new URL(this.base);
		const prefix = root.pathname.replace(/^\/v1\.0/, '');
		for (let start = 0; start < requests.length; start += GRAPH_BATCH_LIMIT) {
			let pending = requests
				.slice(start, start + GRAPH_BATCH_LIMIT)
				.map((r, i) => ({ index: start + i, request: r }));
			for (let attempt = 1; pending.length; attempt++) {
				const body = {
					requests: pending.map(({ index, request }) => {
						const query = new URLSearchParams(request.query ?? {}).toString();
						return {
							id: String(index),
							method: request.method,
							url: `${prefix}${request.path}${query ? `?${query}` : ''}`,
							headers: {
								Prefer: 'IdType="ImmutableId"',
								...(request.body && { 'Content-Type': 'application/json' }),
							},
							body: request.body,
						};
					}),
				};
				const answer = await this.request<{
					responses: Array<{
						id: string;
						status: number;
						headers?: Record<string, string>;
						body?: unknown;
					}>;
				}>({ method: 'POST', path: `${root.origin}/v1.0/$batch`, body, idempotent: true });
				const retry: typeof pending = [];
				let wait = 0;
				for (const response of answer.responses ?? []) {
					const index = Number(response.id);
					const item = pending.find((p) => p.index === index);
					if (!item) continue;
					if (response.status >= 200 && response.status < 300) {
						results[index] = response.body as T;
						continue;
					}
					const error = (response.body as GraphErrorBody | undefined)?.error;
					if ((response.status === 429 || response.status === 503) && attempt < this.maxAttempts) {
						retry.push(item);
						wait = Math.max(
							wait,
							retryAfterMs(
								response.headers?.['Retry-After'] ?? response.headers?.['retry-after'] ?? null,
							) ?? 1000,
						);
						continue;
					}
					results[index] = mapGraphError(
						response.status,
						error?.code ?? '',
						error?.message ?? '',
						this.mailbox,
						this.options.tokens.kind === 'appOnly',
					);
				}
				if (retry.length) await this.sleep(Math.min(wait, this.maxWaitMs));
				pending = retry;
			}
		}
		return results;
	}

	/** Every page of a collection, following `@odata.nextLink` exactly as Graph wrote it. */
	async *pages<T>(
		request: GraphRequest,
	): AsyncGenerator<{ value: T[]; deltaLink?: string; nextLink?: string }> {
		let next: GraphRequest | undefined = request;
		while (next) {
			const page: { value?: T[]; '@odata.nextLink'?: string; '@odata.deltaLink'?: string } =
				await this.request(next);
			const nextLink = page['@odata.nextLink'];
			yield { value: page.value ?? [], nextLink, deltaLink: page['@odata.deltaLink'] };
			next = nextLink ? { path: nextLink, prefer: request.prefer } : undefined;
		}
	}
}

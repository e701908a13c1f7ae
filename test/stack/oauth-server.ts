/**
 * A stand-in for the Microsoft identity platform: tenant-scoped v2.0 authorize and token endpoints,
 * real RS256 JWTs shaped like Entra's (v1 Exchange tokens with scp/upn, app-only tokens with roles),
 * rotating refresh tokens, client secrets and certificate assertions, and Entra's error bodies.
 * It also answers the Dovecot Lua passdb and the SMTP server: "may this token open that mailbox?".
 */
import {
	createPublicKey,
	randomBytes,
	randomUUID,
	X509Certificate,
	type KeyObject,
} from 'node:crypto';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import {
	decodeProtectedHeader,
	exportSPKI,
	generateKeyPair,
	jwtVerify,
	SignJWT,
	type JWTPayload,
} from 'jose';

import {
	APPS,
	DELEGATED_GRANTS,
	OUTLOOK_RESOURCE,
	TENANT_DOMAIN,
	TENANT_ID,
	USERS,
	type TestApp,
} from './directory';

const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);
const GRAPH_DEFAULT = 'https://graph.microsoft.com';

export interface MintOptions {
	/** Mailbox user (upn); omit for an app-only token. */
	upn?: string;
	audience?: string;
	scp?: string;
	roles?: string[];
	appId?: string;
	/** Seconds from now; negative for an expired token. */
	expiresIn?: number;
	notBeforeIn?: number;
	issuer?: string;
	/** Sign with a key the servers do not know. */
	foreignKey?: boolean;
}

interface RefreshGrant {
	upn: string;
	clientId: string;
	resource: string;
	scopes: string[];
	expiresAt: number;
	revoked?: boolean;
}

interface CodeGrant {
	upn: string;
	clientId: string;
	scopes: string[];
	redirectUri: string;
	expiresAt: number;
}

export interface OAuthServerOptions {
	cert: string;
	key: string;
	port?: number;
	/** Lifetime of issued access tokens (seconds). */
	accessTokenLifetime?: number;
	/** Registered certificates of the service app (PEM), for client assertions. */
	serviceAppCertificates?: string[];
}

class OAuthFailure extends Error {
	constructor(
		readonly status: number,
		readonly error: string,
		readonly aadCode: number,
		description: string,
	) {
		super(description);
	}
}

/** Resource of a scope: `https://outlook.office.com/IMAP.AccessAsUser.All` -> `https://outlook.office.com`. */
export function scopeResource(scope: string): string {
	const slash = scope.lastIndexOf('/');
	return slash > 'https://'.length ? scope.slice(0, slash) : GRAPH_DEFAULT;
}

function permissionName(scope: string): string {
	return scope.slice(scope.lastIndexOf('/') + 1);
}

export class OAuthTestServer {
	private server?: Server;
	private privateKey!: KeyObject | Parameters<SignJWT['sign']>[0];
	private foreignPrivateKey!: KeyObject | Parameters<SignJWT['sign']>[0];
	publicKeyPem = '';
	readonly kid = `k${randomBytes(6).toString('hex')}`;
	private readonly codes = new Map<string, CodeGrant>();
	private readonly refreshTokens = new Map<string, RefreshGrant>();
	/** Counters tests read: how many token requests of each grant type were served. */
	/** Tokens issued per grant, and every token-endpoint request (refused ones included). */
	readonly counts = {
		authorization_code: 0,
		refresh_token: 0,
		client_credentials: 0,
		token_requests: 0,
	};
	accessTokenLifetime: number;
	/**
	 * Off (as Microsoft): a rotated refresh token stays valid. On: using a refresh token revokes it, as
	 * identity providers with strict rotation do (tests of concurrent refreshes).
	 */
	strictRotation = false;
	port = 0;

	constructor(private readonly options: OAuthServerOptions) {
		this.accessTokenLifetime = options.accessTokenLifetime ?? 3600;
	}

	get url(): string {
		return `https://127.0.0.1:${this.port}`;
	}

	get issuerV1(): string {
		return `https://sts.windows.net/${TENANT_ID}/`;
	}

	async start(): Promise<void> {
		const pair = await generateKeyPair('RS256', { extractable: true });
		this.privateKey = pair.privateKey;
		this.publicKeyPem = await exportSPKI(pair.publicKey);
		this.foreignPrivateKey = (await generateKeyPair('RS256')).privateKey;
		this.server = createHttpsServer(
			{ cert: this.options.cert, key: this.options.key },
			(req, res) => {
				this.handle(req, res).catch((error) => {
					res.writeHead(500, { 'content-type': 'text/plain' });
					res.end(String(error?.message ?? error));
				});
			},
		);
		await new Promise<void>((resolve) =>
			this.server!.listen(this.options.port ?? 0, '127.0.0.1', resolve),
		);
		this.port = (this.server!.address() as AddressInfo).port;
	}

	async stop(): Promise<void> {
		if (!this.server) return;
		this.server.closeAllConnections();
		await new Promise<void>((resolve) => this.server!.close(() => resolve()));
	}

	/** Issues a JWT the way Entra would, with test overrides. */
	async mint(options: MintOptions): Promise<string> {
		const now = Math.floor(Date.now() / 1000);
		const app = options.appId ?? APPS.delegated.clientId;
		const user = Object.values(USERS).find((u) => u.upn === options.upn);
		const payload: JWTPayload & Record<string, unknown> = {
			aud: options.audience ?? OUTLOOK_RESOURCE,
			iss: options.issuer ?? this.issuerV1,
			iat: now,
			nbf: now + (options.notBeforeIn ?? 0),
			exp: now + (options.expiresIn ?? this.accessTokenLifetime),
			appid: app,
			tid: TENANT_ID,
			ver: '1.0',
			sub: options.upn ? `sub-${user?.oid ?? options.upn}` : `sp-${app}`,
			oid: user?.oid ?? `sp-${app}`,
			// Entra puts a unique token id in every token, so two tokens never coincide.
			uti: randomBytes(12).toString('base64url'),
		};
		if (options.upn) {
			payload.upn = options.upn;
			payload.unique_name = options.upn;
			payload.name = user?.name ?? options.upn;
			payload.scp = options.scp ?? 'IMAP.AccessAsUser.All SMTP.Send';
		} else {
			payload.roles = options.roles ?? [];
		}
		return await new SignJWT(payload)
			.setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: this.kid })
			.sign(options.foreignKey ? this.foreignPrivateKey : this.privateKey);
	}

	/** Verifies a token as a resource server would: signature, issuer, audience, lifetime. */
	async verify(
		token: string,
		audience: string | string[],
	): Promise<JWTPayload & Record<string, unknown>> {
		const { payload } = await jwtVerify(token, createPublicKey(this.publicKeyPem), {
			issuer: this.issuerV1,
			audience,
			algorithms: ['RS256'],
		});
		return payload as JWTPayload & Record<string, unknown>;
	}

	/**
	 * Whether a token may open a mailbox, as Exchange decides: the user's own mailbox, a mailbox the
	 * user has FullAccess on, or (app-only, role IMAP.AccessAsApp / SMTP.SendAsApp) a mailbox granted
	 * to the app's service principal.
	 */
	async mayOpenMailbox(
		token: string,
		mailbox: string,
		protocol: 'imap' | 'smtp',
	): Promise<boolean> {
		let claims: Record<string, unknown>;
		try {
			claims = await this.verify(token, OUTLOOK_RESOURCE);
		} catch {
			return false;
		}
		const target = mailbox.toLowerCase();
		const upn = typeof claims.upn === 'string' ? claims.upn.toLowerCase() : undefined;
		if (upn) {
			const scp = String(claims.scp ?? '').split(' ');
			if (!scp.includes(protocol === 'imap' ? 'IMAP.AccessAsUser.All' : 'SMTP.Send')) return false;
			return upn === target || (DELEGATED_GRANTS[target] ?? []).includes(upn);
		}
		const roles = Array.isArray(claims.roles) ? (claims.roles as string[]) : [];
		if (!roles.includes(protocol === 'imap' ? 'IMAP.AccessAsApp' : 'SMTP.SendAsApp')) return false;
		const app = Object.values(APPS).find((a) => a.clientId === claims.appid);
		return !!app && (app.mailboxGrants as string[]).includes(target);
	}

	private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const url = new URL(req.url ?? '/', this.url);
		const parts = url.pathname.split('/').filter(Boolean);
		if (req.method === 'POST' && url.pathname === '/_test/mailbox-grant') {
			const form = new URLSearchParams(await readBody(req));
			const ok = await this.mayOpenMailbox(
				form.get('token') ?? '',
				form.get('user') ?? '',
				form.get('protocol') === 'smtp' ? 'smtp' : 'imap',
			);
			res.writeHead(ok ? 200 : 403, { 'content-type': 'text/plain' });
			res.end(ok ? 'OK' : 'DENIED');
			return;
		}
		if (req.method === 'POST' && url.pathname === '/_test/mint') {
			const token = await this.mint(JSON.parse((await readBody(req)) || '{}') as MintOptions);
			sendJson(res, 200, { token });
			return;
		}
		if (req.method === 'GET' && url.pathname === '/_test/counts') {
			sendJson(res, 200, this.counts);
			return;
		}
		if (req.method === 'POST' && url.pathname === '/_test/settings') {
			const previous = {
				accessTokenLifetime: this.accessTokenLifetime,
				strictRotation: this.strictRotation,
			};
			const next = JSON.parse((await readBody(req)) || '{}') as Partial<typeof previous>;
			if (typeof next.accessTokenLifetime === 'number')
				this.accessTokenLifetime = next.accessTokenLifetime;
			if (typeof next.strictRotation === 'boolean') this.strictRotation = next.strictRotation;
			sendJson(res, 200, previous);
			return;
		}
		if (req.method === 'POST' && url.pathname === '/_test/refresh-token') {
			const form = new URLSearchParams(await readBody(req));
			this.expireRefreshToken(
				form.get('token') ?? '',
				form.get('how') === 'revoke' ? 'revoke' : 'expire',
			);
			sendJson(res, 200, { ok: true });
			return;
		}
		const [tenant, ...rest] = parts;
		const route = rest.join('/');
		try {
			if (route === 'oauth2/v2.0/authorize') return this.authorize(tenant, url, res);
			if (route === 'oauth2/v2.0/token' && req.method === 'POST') {
				const form = new URLSearchParams(await readBody(req));
				const auth = req.headers.authorization;
				if (auth?.startsWith('Basic ')) {
					const [id, secret] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
					if (!form.has('client_id')) form.set('client_id', decodeURIComponent(id));
					if (!form.has('client_secret'))
						form.set('client_secret', decodeURIComponent(secret ?? ''));
				}
				const tokenUrl = `${this.url}${url.pathname}`;
				sendJson(res, 200, await this.token(tenant, form, tokenUrl));
				return;
			}
			if (route === 'v2.0/.well-known/openid-configuration') {
				const base = `${this.url}/${tenant}`;
				sendJson(res, 200, {
					token_endpoint: `${base}/oauth2/v2.0/token`,
					authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
					jwks_uri: `${base}/discovery/v2.0/keys`,
					issuer: `${this.url}/${TENANT_ID}/v2.0`,
					end_session_endpoint: `${base}/oauth2/v2.0/logout`,
				});
				return;
			}
			if (route === 'discovery/v2.0/keys') {
				const jwk = createPublicKey(this.publicKeyPem).export({ format: 'jwk' });
				sendJson(res, 200, { keys: [{ ...jwk, kid: this.kid, use: 'sig', alg: 'RS256' }] });
				return;
			}
			sendJson(res, 404, { error: 'not_found' });
		} catch (error) {
			if (error instanceof OAuthFailure) {
				sendJson(res, error.status, {
					error: error.error,
					error_description: `AADSTS${error.aadCode}: ${error.message} Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`,
					error_codes: [error.aadCode],
					timestamp: new Date().toISOString(),
					trace_id: randomUUID(),
					correlation_id: randomUUID(),
				});
				return;
			}
			throw error;
		}
	}

	private checkTenant(tenant: string, appOnly: boolean): void {
		const known = [TENANT_ID, TENANT_DOMAIN];
		if (appOnly && ['common', 'organizations', 'consumers'].includes(tenant)) {
			throw new OAuthFailure(
				400,
				'invalid_request',
				90002,
				`Tenant '${tenant}' not valid for client credentials. Use a tenant-specific endpoint.`,
			);
		}
		if (!known.includes(tenant) && !['common', 'organizations', 'consumers'].includes(tenant)) {
			throw new OAuthFailure(400, 'invalid_request', 90002, `Tenant '${tenant}' not found.`);
		}
	}

	private app(clientId: string | null): TestApp {
		const app = Object.values(APPS).find((a) => a.clientId === clientId);
		if (!app) {
			throw new OAuthFailure(
				400,
				'unauthorized_client',
				700016,
				`Application with identifier '${clientId}' was not found in the directory '${TENANT_DOMAIN}'.`,
			);
		}
		return app;
	}

	private async authenticateClient(
		app: TestApp,
		form: URLSearchParams,
		tokenUrl: string,
	): Promise<void> {
		const assertion = form.get('client_assertion');
		if (assertion) {
			const header = decodeProtectedHeader(assertion);
			// MSAL may send base64 rather than base64url; Entra accepts both.
			const thumb = String(header['x5t#S256'] ?? header.x5t ?? '')
				.replace(/\+/g, '-')
				.replace(/\//g, '_')
				.replace(/=+$/, '');
			const cert = (this.options.serviceAppCertificates ?? [])
				.map((pem) => new X509Certificate(pem))
				.find((c) => {
					const raw = c.raw;
					const sha256 = Buffer.from(c.fingerprint256.replace(/:/g, ''), 'hex').toString(
						'base64url',
					);
					const sha1 = Buffer.from(c.fingerprint.replace(/:/g, ''), 'hex').toString('base64url');
					return raw && (thumb === sha256 || thumb === sha1);
				});
			if (!cert || app !== APPS.service) {
				throw new OAuthFailure(
					401,
					'invalid_client',
					700027,
					'Client assertion failed signature validation: key not found.',
				);
			}
			try {
				await jwtVerify(assertion, cert.publicKey, {
					audience: tokenUrl,
					issuer: app.clientId,
					subject: app.clientId,
					// Entra allows clock skew; MSAL rounds "now", which can put nbf a second ahead.
					clockTolerance: 300,
				});
			} catch {
				throw new OAuthFailure(
					401,
					'invalid_client',
					700027,
					'Client assertion failed signature validation.',
				);
			}
			return;
		}
		const secret = form.get('client_secret');
		const match = app.secrets.find((s) => s.value === secret);
		if (!match) {
			throw new OAuthFailure(
				401,
				'invalid_client',
				7000215,
				'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
			);
		}
		if (match.expired) {
			throw new OAuthFailure(
				401,
				'invalid_client',
				7000222,
				`The provided client secret keys for app '${app.clientId}' are expired.`,
			);
		}
	}

	/** Splits requested scopes into one resource and its permissions; two resources is an error. */
	private resourceOf(scopes: string[]): { resource: string; permissions: string[] } {
		const resourceScopes = scopes.filter((s) => !OIDC_SCOPES.has(s));
		const resources = [...new Set(resourceScopes.map(scopeResource))];
		if (resources.length > 1) {
			throw new OAuthFailure(
				400,
				'invalid_scope',
				28000,
				`Provided value for the input parameter scope is not valid because it contains more than one resource. Scope ${scopes.join(' ')} is not valid.`,
			);
		}
		return {
			resource: resources[0] ?? GRAPH_DEFAULT,
			permissions: resourceScopes.map(permissionName),
		};
	}

	private authorize(tenant: string, url: URL, res: ServerResponse): void {
		const redirect = url.searchParams.get('redirect_uri') ?? '';
		const state = url.searchParams.get('state') ?? '';
		const fail = (code: number, error: string, text: string) => {
			const target = new URL(redirect);
			target.searchParams.set('error', error);
			target.searchParams.set('error_description', `AADSTS${code}: ${text}`);
			target.searchParams.set('state', state);
			res.writeHead(302, { location: target.toString() });
			res.end();
		};
		try {
			this.checkTenant(tenant, false);
			const app = this.app(url.searchParams.get('client_id'));
			if (!/^https?:\/\/(127\.0\.0\.1|localhost)(:\d+)?\//.test(redirect)) {
				throw new OAuthFailure(
					400,
					'invalid_request',
					50011,
					`The redirect URI '${redirect}' does not match the redirect URIs configured for the application.`,
				);
			}
			const scopes = (url.searchParams.get('scope') ?? '').split(' ').filter(Boolean);
			this.resourceOf(scopes);
			if (!app.delegatedConsent) {
				return fail(
					65001,
					'consent_required',
					`The user or administrator has not consented to use the application with ID '${app.clientId}'.`,
				);
			}
			const user = url.searchParams.get('login_hint') ?? url.searchParams.get('user');
			if (!user) {
				// A sign-in page: pick an account, as Microsoft's account picker does.
				const links = Object.values(USERS)
					.map((u) => {
						const next = new URL(url);
						next.searchParams.set('user', u.upn);
						return `<li><a id="${u.upn.split('@')[0]}" href="${next.pathname}${next.search}">${u.name} (${u.upn})</a></li>`;
					})
					.join('');
				res.writeHead(200, { 'content-type': 'text/html' });
				res.end(
					`<!doctype html><title>Sign in (test tenant)</title><h1>Pick an account</h1><ul>${links}</ul>`,
				);
				return;
			}
			const code = randomBytes(24).toString('base64url');
			this.codes.set(code, {
				upn: user,
				clientId: app.clientId,
				scopes,
				redirectUri: redirect,
				expiresAt: Date.now() + 600_000,
			});
			const target = new URL(redirect);
			target.searchParams.set('code', code);
			target.searchParams.set('state', state);
			res.writeHead(302, { location: target.toString() });
			res.end();
		} catch (error) {
			if (error instanceof OAuthFailure && redirect)
				return fail(error.aadCode, error.error, error.message);
			throw error;
		}
	}

	private async token(
		tenant: string,
		form: URLSearchParams,
		tokenUrl: string,
	): Promise<Record<string, unknown>> {
		this.counts.token_requests++;
		const grant = form.get('grant_type');
		this.checkTenant(tenant, grant === 'client_credentials');
		const app = this.app(form.get('client_id'));
		await this.authenticateClient(app, form, tokenUrl);
		if (grant === 'client_credentials') {
			this.counts.client_credentials++;
			const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
			if (scopes.length !== 1 || !scopes[0].endsWith('/.default')) {
				throw new OAuthFailure(
					400,
					'invalid_scope',
					1002012,
					'The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.',
				);
			}
			const resource = scopeResource(scopes[0]);
			const key = /outlook/.test(resource) ? 'outlook' : 'graph';
			const roles = (app.appRoles as Record<string, string[]>)[key] ?? [];
			// Exchange's app-only tokens carry the outlook.office.com audience in this stack (Dovecot takes one).
			const audience = key === 'outlook' ? OUTLOOK_RESOURCE : resource;
			const token = await this.mint({ appId: app.clientId, roles, audience });
			return {
				token_type: 'Bearer',
				expires_in: this.accessTokenLifetime,
				ext_expires_in: this.accessTokenLifetime,
				access_token: token,
			};
		}
		if (grant === 'authorization_code') {
			this.counts.authorization_code++;
			const code = this.codes.get(form.get('code') ?? '');
			this.codes.delete(form.get('code') ?? '');
			if (!code || code.expiresAt < Date.now() || code.clientId !== app.clientId) {
				throw new OAuthFailure(
					400,
					'invalid_grant',
					70008,
					'The provided authorization code or refresh token has expired due to inactivity.',
				);
			}
			return await this.issueUserTokens(code.upn, app, code.scopes);
		}
		if (grant === 'refresh_token') {
			this.counts.refresh_token++;
			const presented = form.get('refresh_token') ?? '';
			const stored = this.refreshTokens.get(presented);
			if (!stored || stored.clientId !== app.clientId) {
				throw new OAuthFailure(
					400,
					'invalid_grant',
					9002313,
					'Invalid request. Request is malformed or invalid.',
				);
			}
			if (stored.revoked) {
				throw new OAuthFailure(
					400,
					'invalid_grant',
					50173,
					'The provided grant has expired due to it being revoked, a fresh auth token is needed.',
				);
			}
			if (stored.expiresAt < Date.now()) {
				throw new OAuthFailure(
					400,
					'invalid_grant',
					700082,
					'The refresh token has expired due to inactivity.',
				);
			}
			const requested = (form.get('scope') ?? '').split(' ').filter(Boolean);
			// Without a scope the token is for the resource the grant was consented for.
			const scopes = requested.length ? requested : stored.scopes;
			if (this.strictRotation) stored.revoked = true;
			return await this.issueUserTokens(stored.upn, app, scopes);
		}
		throw new OAuthFailure(
			400,
			'unsupported_grant_type',
			70003,
			`The app requested an unsupported grant type '${grant}'.`,
		);
	}

	private async issueUserTokens(
		upn: string,
		app: TestApp,
		scopes: string[],
	): Promise<Record<string, unknown>> {
		const { resource, permissions } = this.resourceOf(scopes);
		const accessToken = await this.mint({
			upn,
			appId: app.clientId,
			audience: resource,
			scp: permissions.join(' '),
		});
		const body: Record<string, unknown> = {
			token_type: 'Bearer',
			scope: scopes.filter((s) => s !== 'offline_access').join(' '),
			expires_in: this.accessTokenLifetime,
			ext_expires_in: this.accessTokenLifetime,
			access_token: accessToken,
		};
		if (scopes.includes('offline_access')) {
			// Rotation: a new refresh token each time; the old one keeps its own (90-day) clock.
			const refresh = randomBytes(32).toString('base64url');
			this.refreshTokens.set(refresh, {
				upn,
				clientId: app.clientId,
				resource,
				scopes,
				expiresAt: Date.now() + 90 * 86_400_000,
			});
			body.refresh_token = refresh;
		}
		if (scopes.includes('openid')) {
			const user = Object.values(USERS).find((u) => u.upn === upn);
			const now = Math.floor(Date.now() / 1000);
			body.id_token = await new SignJWT({
				preferred_username: upn,
				email: upn,
				name: user?.name ?? upn,
				oid: user?.oid,
				tid: TENANT_ID,
				ver: '2.0',
			})
				.setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: this.kid })
				.setIssuer(`${this.url}/${TENANT_ID}/v2.0`)
				.setAudience(app.clientId)
				.setIssuedAt(now)
				.setExpirationTime(now + 3600)
				.sign(this.privateKey);
		}
		return body;
	}

	/** Test control: revoke or age a refresh token as an admin or 90 idle days would. */
	expireRefreshToken(token: string, how: 'revoke' | 'expire'): void {
		const stored = this.refreshTokens.get(token);
		if (!stored) return;
		if (how === 'revoke') stored.revoked = true;
		else stored.expiresAt = Date.now() - 1000;
	}
}

function readBody(req: IncomingMessage): Promise<string> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		req.on('data', (c: Buffer) => chunks.push(c));
		req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
		req.on('error', reject);
	});
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
	res.writeHead(status, {
		'content-type': 'application/json; charset=utf-8',
		'cache-control': 'no-store',
	});
	res.end(JSON.stringify(body));
}

/**
 * A folder watched over IMAP IDLE: one session of its own stays in IDLE and reports when mail may
 * have arrived. IDLE is entered again every few minutes (before the server's timeout and the
 * socket's), the session is replaced before its token expires (Exchange ends it with `BYE ...
 * AccessTokenExpired`), and a lost session is opened again with a bounded backoff. After every
 * (re)connect `onChange` is called, so the caller catches up on what arrived meanwhile.
 */
import type { ImapFlow } from 'imapflow';

import type { ChangeHandlers, FolderWatch } from '../mailbox';
import { resolveFolder } from './folders';
import { openImapSession, type ImapSessionOptions } from './session';

/** IDLE is broken and entered again this often: under Exchange's 29 minutes and the socket timeout. */
const IDLE_RESTART_MS = 4 * 60_000;
/** A session is replaced this often, before its access token (60-90 minutes) expires. */
const RENEW_MS = 45 * 60_000;
const MAX_BACKOFF_MS = 60_000;

/** Starts watching `folder`; resolves once the first session is in IDLE, or rejects with its error. */
export async function watchFolderIdle(
	session: ImapSessionOptions,
	folder: string,
	handlers: ChangeHandlers,
): Promise<FolderWatch> {
	let stopped = false;
	let client: ImapFlow | undefined;
	let wake: (() => void) | undefined;
	const sleep = (ms: number) =>
		new Promise<void>((resolve) => {
			const timer = setTimeout(resolve, ms);
			wake = () => {
				clearTimeout(timer);
				resolve();
			};
		});

	/** Opens a session on the folder; resolves when it is selected. */
	const open = async (): Promise<ImapFlow> => {
		const opened = await openImapSession({
			...session,
			maxIdleTimeMs: IDLE_RESTART_MS,
			socketTimeoutMs: 2 * IDLE_RESTART_MS,
		});
		try {
			const target = await resolveFolder(opened, session.mailbox, folder);
			await opened.mailboxOpen(target.serverPath, { readOnly: true });
		} catch (error) {
			await opened.logout().catch(() => opened.close());
			throw error;
		}
		opened.on('exists', () => handlers.onChange());
		return opened;
	};

	/** IDLE until the session ends or is due for renewal; IDLE itself restarts every few minutes. */
	const idle = async (current: ImapFlow): Promise<void> => {
		const renewAt = Date.now() + RENEW_MS;
		const closed = new Promise<void>((resolve) => current.once('close', () => resolve()));
		while (!stopped && current.usable && Date.now() < renewAt) {
			await Promise.race([current.idle().catch(() => undefined), closed]);
		}
		await current.logout().catch(() => current.close());
	};

	client = await open();
	const loop = async (first: ImapFlow) => {
		let current: ImapFlow | undefined = first;
		let attempt = 0;
		while (!stopped) {
			try {
				current ??= await open();
				client = current;
				attempt = 0;
				handlers.onChange();
				await idle(current);
			} catch (error) {
				if (stopped) break;
				attempt++;
				const retryInMs = Math.min(1000 * 2 ** (attempt - 1), MAX_BACKOFF_MS);
				handlers.onTrouble(error as Error, attempt, retryInMs);
				await sleep(retryInMs);
			}
			current = undefined;
		}
	};
	const running = loop(client);
	return {
		async stop() {
			stopped = true;
			wake?.();
			const last = client;
			await last?.logout().catch(() => last.close());
			await running;
		},
	};
}

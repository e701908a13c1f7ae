/** Test-side mail tools: build messages, put them into the local Dovecot, read folders back. */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import {
	connect as tlsConnect,
	createServer as createTlsServer,
	type Server as TlsServer,
	type TLSSocket,
} from 'node:tls';

import { ImapFlow } from 'imapflow';
import MailComposer from 'nodemailer/lib/mail-composer';

import { ensureCertificates } from '../stack/certs';
import { mintToken, stackInfo } from './stack';

export interface TestMail {
	from?: string;
	to?: string;
	cc?: string;
	subject: string;
	text?: string;
	html?: string;
	headers?: Record<string, string>;
	attachments?: Array<{
		filename: string;
		content: Buffer | string;
		contentType?: string;
		cid?: string;
		contentDisposition?: 'attachment' | 'inline';
	}>;
}

export async function buildMail(mail: TestMail): Promise<Buffer> {
	return await new MailComposer({
		from: mail.from ?? 'Sender <sender@example.test>',
		to: mail.to ?? 'alice@example.test',
		cc: mail.cc,
		subject: mail.subject,
		text: mail.text ?? `Body of ${mail.subject}`,
		html: mail.html,
		headers: mail.headers,
		attachments: mail.attachments,
	})
		.compile()
		.build();
}

/** An IMAP session of the test itself (not the code under test). */
export async function testImap(mailbox = 'alice@example.test'): Promise<ImapFlow> {
	const client = new ImapFlow({
		host: '127.0.0.1',
		port: stackInfo().imapsPort,
		secure: true,
		auth: { user: mailbox, accessToken: await mintToken({ upn: mailbox }) },
		logger: false,
		disableAutoIdle: true,
	});
	client.on('error', () => undefined);
	await client.connect();
	return client;
}

/** Creates a fresh folder under Inbox so each test watches its own (returns "Inbox/<name>"). */
export async function freshFolder(prefix: string, mailbox = 'alice@example.test'): Promise<string> {
	const name = `${prefix}-${randomUUID().slice(0, 8)}`;
	const client = await testImap(mailbox);
	try {
		await client.mailboxCreate(['INBOX', name]);
	} finally {
		await client.logout();
	}
	return `Inbox/${name}`;
}

function serverPath(folder: string): string {
	const [first, ...rest] = folder.split('/');
	return [first.toLowerCase() === 'inbox' ? 'INBOX' : first, ...rest].join('/');
}

/** Appends messages (unread) to a folder, in order, through one session. */
export async function appendMails(
	folder: string,
	mails: Array<TestMail | Buffer>,
	mailbox = 'alice@example.test',
	flags: string[] = [],
	/** The server's received time (INTERNALDATE); now by default. */
	receivedAt?: Date,
): Promise<number[]> {
	const client = await testImap(mailbox);
	const uids: number[] = [];
	try {
		for (const mail of mails) {
			const raw = Buffer.isBuffer(mail) ? mail : await buildMail(mail);
			const result = await client.append(serverPath(folder), raw, flags, receivedAt);
			if (!result) throw new Error('append failed');
			uids.push(result.uid ?? 0);
		}
	} finally {
		await client.logout();
	}
	return uids;
}

export interface FolderEntry {
	uid: number;
	subject: string;
	flags: string[];
}

export async function listFolder(
	folder: string,
	mailbox = 'alice@example.test',
): Promise<FolderEntry[]> {
	const client = await testImap(mailbox);
	try {
		const lock = await client.getMailboxLock(serverPath(folder), { readOnly: true });
		try {
			const status = client.mailbox;
			if (!status || !status.exists) return [];
			const messages = await client.fetchAll('1:*', { uid: true, envelope: true, flags: true });
			return messages.map((m) => ({
				uid: m.uid,
				subject: m.envelope?.subject ?? '',
				flags: [...(m.flags ?? [])],
			}));
		} finally {
			lock.release();
		}
	} finally {
		await client.logout();
	}
}

/** Deletes these messages of the folder for good (flagged \Deleted and expunged). */
export async function expungeMails(
	folder: string,
	uids: number[],
	mailbox = 'alice@example.test',
): Promise<void> {
	const client = await testImap(mailbox);
	try {
		const lock = await client.getMailboxLock(serverPath(folder));
		try {
			await client.messageDelete(uids.join(','), { uid: true });
		} finally {
			lock.release();
		}
	} finally {
		await client.logout();
	}
}

/**
 * The folder deleted and created again with the same messages, in order, with their flags and
 * received times: a new UIDVALIDITY and new UIDs, as after a server's rebuild of a folder. Returns
 * the new UIDVALIDITY.
 */
export async function recreateFolder(
	folder: string,
	/** In reverse order: a rebuild need not keep the order. */
	reverse = false,
	mailbox = 'alice@example.test',
): Promise<bigint> {
	const client = await testImap(mailbox);
	const path = serverPath(folder);
	try {
		const kept: Array<{ source: Buffer; flags: string[]; internalDate?: Date | string }> = [];
		const lock = await client.getMailboxLock(path, { readOnly: true });
		try {
			if (client.mailbox && client.mailbox.exists) {
				const all = await client.fetchAll('1:*', { source: true, flags: true, internalDate: true });
				for (const m of all) {
					kept.push({
						source: m.source!,
						flags: [...(m.flags ?? [])],
						internalDate: m.internalDate,
					});
				}
			}
		} finally {
			lock.release();
		}
		await client.mailboxDelete(path);
		await client.mailboxCreate(path);
		if (reverse) kept.reverse();
		for (const m of kept) {
			const appended = await client.append(path, m.source, m.flags, m.internalDate);
			if (!appended) throw new Error('append failed');
		}
		const status = await client.status(path, { uidValidity: true });
		if (!status) throw new Error('STATUS failed');
		return status.uidValidity!;
	} finally {
		await client.logout();
	}
}

/** Delivers through the MTA path (dovecot-lda), as mail from outside arrives. */
export function deliverMail(raw: Buffer, mailbox = 'alice@example.test', folder?: string): void {
	const args = ['-c', stackInfo().dovecotConfig, '-d', mailbox, '-f', 'sender@example.test'];
	if (folder) args.push('-m', serverPath(folder));
	execFileSync('/usr/lib/dovecot/dovecot-lda', args, {
		input: raw,
		stdio: ['pipe', 'ignore', 'pipe'],
	});
}

async function waitPort(port: number, open: boolean, timeoutMs = 15_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const isOpen = await new Promise<boolean>((resolve) => {
			const socket = connect(port, '127.0.0.1');
			socket.once('connect', () => {
				socket.destroy();
				resolve(true);
			});
			socket.once('error', () => resolve(false));
		});
		if (isOpen === open) return;
		if (Date.now() > deadline) throw new Error(`port ${port} did not ${open ? 'open' : 'close'}`);
		await new Promise((r) => setTimeout(r, 100));
	}
}

/** Stops and starts Dovecot (mail is kept), as a server restart between polls would. */
export async function restartDovecot(): Promise<void> {
	const config = stackInfo().dovecotConfig;
	execFileSync('dovecot', ['-c', config, 'stop'], { stdio: 'ignore' });
	await waitPort(stackInfo().imapsPort, false);
	await new Promise<void>((resolve, reject) => {
		const child = spawn('dovecot', ['-c', config], { stdio: 'ignore' });
		child.on('exit', (code) =>
			code === 0 ? resolve() : reject(new Error(`dovecot exit ${code}`)),
		);
	});
	await waitPort(stackInfo().imapsPort, true);
}

/**
 * Kills (SIGKILL) every IMAP session process of this stack's Dovecot, as a crash would: the clients'
 * connections close without a BYE. Returns how many were killed. Only the children of this stack's
 * master process: the other test lane runs a Dovecot of its own, whose sessions are not ours to end.
 */
export function killImapProcesses(): number {
	const master = readFileSync(
		join(dirname(stackInfo().dovecotConfig), 'run', 'master.pid'),
		'utf8',
	).trim();
	const list = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' });
	const pids = list
		.split('\n')
		.map((line) => /^\s*(\d+)\s+(\d+)\s+dovecot\/imap(?:\s|$)/.exec(line))
		.filter((match) => match !== null && match[2] === master)
		.map((match) => match![1]);
	for (const pid of pids) {
		try {
			process.kill(Number(pid), 'SIGKILL');
		} catch {
			// gone meanwhile
		}
	}
	return pids.length;
}

/**
 * A TCP proxy in front of Dovecot's IMAPS port that can cut a connection in the middle of a
 * download: armed with a byte count, it destroys the connection the server sends through once it
 * has sent that many more bytes (the session a trigger kept from its last poll, or a new one).
 */
export class CuttingProxy {
	private server?: Server;
	private cutAfter?: number;
	/** Whether the armed cut leaves the connection open and silent instead (stallNextAfter). */
	private silentCut = false;
	private sinceArmed = 0;
	private readonly live = new Set<Socket>();
	cuts = 0;
	/** Connections left open and silent mid-answer (stallNextAfter). */
	silenced = 0;
	connections = 0;
	/** Bytes the server has sent through the proxy, cut or not. */
	bytesFromServer = 0;
	port = 0;

	async start(): Promise<void> {
		const target = stackInfo().imapsPort;
		this.server = createServer((client: Socket) => {
			this.connections++;
			const upstream = connect(target, '127.0.0.1');
			this.live.add(client).add(upstream);
			let severed = false;
			upstream.on('data', (chunk: Buffer) => {
				if (severed) return;
				this.bytesFromServer += chunk.length;
				if (this.cutAfter === undefined) {
					client.write(chunk);
					return;
				}
				this.sinceArmed += chunk.length;
				if (this.sinceArmed > this.cutAfter) {
					// The cut falls at the byte asked for, not at the end of the chunk before it (chunks
					// run to 64 KB): the client gets the bytes up to it, then the connection is gone.
					const upTo = chunk.length - (this.sinceArmed - this.cutAfter);
					this.cutAfter = undefined;
					severed = true;
					if (this.silentCut) {
						// Open, and nothing more from the server: the client must give up on its own.
						this.silenced++;
						client.write(chunk.subarray(0, upTo));
						return;
					}
					this.cuts++;
					client.write(chunk.subarray(0, upTo), () => {
						client.destroy();
						upstream.destroy();
					});
					return;
				}
				client.write(chunk);
			});
			client.on('data', (chunk: Buffer) => upstream.write(chunk));
			const close = () => {
				this.live.delete(client);
				this.live.delete(upstream);
				client.destroy();
				upstream.destroy();
			};
			client.on('error', close);
			upstream.on('error', close);
			client.on('close', close);
			upstream.on('close', close);
		});
		await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
		this.port = (this.server.address() as { port: number }).port;
	}

	/** The connection in use (or the next one) is cut once the server has sent `bytes` more. */
	cutNextAfter(bytes: number): void {
		this.cutAfter = bytes;
		this.silentCut = false;
		this.sinceArmed = 0;
	}

	/**
	 * As cutNextAfter, but the connection stays open and the server's side goes silent (a connection
	 * lost on the way mid-answer): nothing more reaches the client, which must time out.
	 */
	stallNextAfter(bytes: number): void {
		this.cutNextAfter(bytes);
		this.silentCut = true;
	}

	/** A cut armed and not yet made is called off. */
	disarm(): void {
		this.cutAfter = undefined;
	}

	/** Closes the connections still open (a session a trigger kept for its next poll), then stops. */
	async stop(): Promise<void> {
		for (const socket of this.live) socket.destroy();
		await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
	}
}

/**
 * A TLS-terminating proxy in front of Dovecot's IMAPS port, so a test can speak as the server does:
 * `byeAll` ends every open session with an untagged BYE, as Exchange Online does when a session's
 * access token expires ("* BYE Session invalidated - AccessTokenExpired").
 */
export class ImapTlsProxy {
	private server?: TlsServer;
	private readonly live = new Set<{ client: TLSSocket; upstream: TLSSocket }>();
	/** Sessions that stall() left open and silent; closed by stop(). */
	private readonly stalled = new Set<{ client: TLSSocket; upstream: TLSSocket }>();
	connections = 0;
	byes = 0;
	dropped = 0;
	/** Stalled sessions that were closed since (by the client: the proxy never closes one itself). */
	stalledClosed = 0;
	/** Stalled sessions still open (the client has not given them up yet). */
	get silentOpen(): number {
		return this.stalled.size;
	}
	port = 0;
	/** Client commands seen, by name (`UID STORE`, `SELECT`, ...), counted from the command lines. */
	readonly commands = new Map<string, number>();
	/** Commands (`UID STORE`, ...) whose next sendings drop their connection instead (no BYE, as a crash). */
	private readonly drops = new Map<string, number>();
	/** Command lines the proxy answers `BAD` itself, never passing them on (refuseOn). */
	private readonly refusals: RegExp[] = [];
	/** Commands so refused. */
	refused = 0;

	/** UIDs whose FETCH answers the proxy leaves out, and how many more times. */
	private readonly omissions = new Map<number, { pass: number; times: number }>();
	/** FETCH answers left out (omitFetchOf). */
	omitted = 0;
	/**
	 * UIDs the server does not show yet (hide): left out of SEARCH results and FETCH answers, as a
	 * message whose UID is handed out before it can be seen.
	 */
	readonly hidden = new Set<number>();
	/** UIDs whose whole body the server answers as NIL (nilBodyOf), and the answers so changed. */
	private readonly nilBodies = new Set<number>();
	nilled = 0;
	/** Whether the server's OK to an APPEND leaves out where the message went (no APPENDUID). */
	withoutAppendUid = false;
	/** APPEND answers so changed. */
	appendUidsLeftOut = 0;

	/**
	 * Commands whose next sendings make their session (or, with `every`, every open session) go
	 * silent once they reach Dovecot (stallOn).
	 */
	private readonly stalls = new Map<string, { times: number; every: boolean }>();

	/** The next `times` sendings of `command` drop their connection before it reaches Dovecot. */
	dropOn(command: string, times = 1): void {
		this.drops.set(command.toUpperCase(), times);
	}

	/**
	 * Command lines matching `line` are answered `<tag> BAD` by the proxy and never reach Dovecot, as
	 * a server refuses a command it does not support; the session goes on.
	 */
	refuseOn(line: RegExp): void {
		this.refusals.push(line);
	}

	/**
	 * The next `times` sendings of `command` reach Dovecot, and then their session goes silent as
	 * stall() leaves it: its answer never comes, and the connection stays open (a connection lost on
	 * the way in the middle of a command). With `every`, every open session goes silent with it (the
	 * way to the server lost).
	 */
	stallOn(command: string, times = 1, every = false): void {
		this.stalls.set(command.toUpperCase(), { times, every });
	}

	/**
	 * After `pass` more untagged FETCH answers for this UID, its next `times` never reach the client,
	 * while the command still ends with OK: a server that leaves a message out of its answer.
	 */
	omitFetchOf(uid: number, times = 1, pass = 0): void {
		this.omissions.set(uid, { pass, times });
	}

	/**
	 * The server answers every FETCH of this message's whole body with `BODY[] NIL` and OK, as Exchange
	 * does for an item it cannot convert to MIME (imapsync issue 79: "could not be fetched").
	 */
	nilBodyOf(uid: number, on = true): void {
		if (on) this.nilBodies.add(uid);
		else this.nilBodies.delete(uid);
	}

	/**
	 * The server's side of the conversation, a whole response at a time (lines and the literals they
	 * announce), so that a FETCH answer can be left out whole; everything else passes unchanged.
	 */
	private serverToClient(client: TLSSocket): (chunk: Buffer) => void {
		let parts: Buffer[] = [];
		let text = '';
		let line = '';
		let literalLeft = 0;
		const finish = () => {
			const uid = /^\* \d+ FETCH \(.*?\bUID (\d+)\b/is.exec(text)?.[1];
			if (this.hidden.size && /^\* SEARCH\b/i.test(text)) {
				const shown = text
					.trim()
					.split(' ')
					.slice(2)
					.filter((n) => !this.hidden.has(Number(n)));
				client.write(`* SEARCH${shown.map((n) => ` ${n}`).join('')}\r\n`);
				parts = [];
				text = '';
				return;
			}
			if (uid !== undefined && this.hidden.has(Number(uid))) {
				parts = [];
				text = '';
				return;
			}
			const nil = /^\* (\d+) FETCH \(.*\bBODY\[\] \{\d+\}\r?\n/is.exec(text);
			if (nil && this.nilBodies.has(Number(uid))) {
				client.write(`* ${nil[1]} FETCH (UID ${uid} BODY[] NIL)\r\n`);
				this.nilled++;
				parts = [];
				text = '';
				return;
			}
			const appended = /^(\S+ OK )\[APPENDUID \d+ \d+\] ?/i.exec(text);
			if (appended && this.withoutAppendUid) {
				// As a server without UIDPLUS answers: saved, without saying where.
				client.write(appended[1] + text.slice(appended[0].length));
				this.appendUidsLeftOut++;
				parts = [];
				text = '';
				return;
			}
			const omission = uid === undefined ? undefined : this.omissions.get(Number(uid));
			if (omission && omission.pass > 0) omission.pass--;
			else if (omission && omission.times > 0) {
				omission.times--;
				this.omitted++;
				parts = [];
				text = '';
				return;
			}
			client.write(Buffer.concat(parts));
			parts = [];
			text = '';
		};
		return (chunk: Buffer) => {
			let pos = 0;
			while (pos < chunk.length) {
				if (literalLeft > 0) {
					const take = Math.min(literalLeft, chunk.length - pos);
					parts.push(chunk.subarray(pos, pos + take));
					literalLeft -= take;
					pos += take;
					continue;
				}
				const nl = chunk.indexOf(10, pos);
				const end = nl < 0 ? chunk.length : nl + 1;
				parts.push(chunk.subarray(pos, end));
				line += chunk.toString('latin1', pos, end);
				pos = end;
				if (nl < 0) return;
				text += line;
				const literal = /\{(\d+)\+?\}\r?\n$/.exec(line);
				line = '';
				if (literal) literalLeft = Number(literal[1]);
				else finish();
			}
		};
	}

	async start(): Promise<void> {
		const info = stackInfo();
		const certs = ensureCertificates(join(info.dir, 'certs'));
		this.server = createTlsServer({ cert: certs.cert, key: certs.key }, (client) => {
			this.connections++;
			const upstream = tlsConnect({
				host: '127.0.0.1',
				port: info.imapsPort,
				ca: readFileSync(info.caCertPath),
				servername: 'localhost',
			});
			const pair = { client, upstream };
			this.live.add(pair);
			let pending = '';
			client.on('data', (chunk: Buffer) => {
				let refused = false;
				// "<tag> [UID] <COMMAND> ..." lines; literals and tokens are not commands, and a line cut
				// between two chunks is joined first.
				const lines = (pending + chunk.toString('latin1')).split('\r\n');
				pending = lines.pop()!.slice(-200);
				for (const line of lines) {
					const match = /^\S+ ((?:UID )?[A-Z]+)\b/i.exec(line);
					if (match) {
						const name = match[1].toUpperCase();
						this.commands.set(name, (this.commands.get(name) ?? 0) + 1);
						const stall = this.stalls.get(name);
						if (stall && stall.times > 0 && this.live.has(pair)) {
							// The chunk is still handed on, below.
							stall.times--;
							if (stall.every) this.stall();
							else this.silence(pair);
						}
						if (this.refusals.some((refusal) => refusal.test(line))) {
							// A chunk holds one command at a time here (imapflow waits for each answer).
							refused = true;
							this.refused++;
							client.write(`${line.split(' ')[0]} BAD Command refused by the test proxy\r\n`);
						}
						const drops = this.drops.get(name) ?? 0;
						if (drops > 0) {
							// Returned before the chunk is handed on: it never reaches Dovecot.
							this.drops.set(name, drops - 1);
							this.dropped++;
							close();
							return;
						}
					}
				}
				if (!refused) upstream.write(chunk);
			});
			upstream.on('data', this.serverToClient(client));
			const close = () => {
				this.live.delete(pair);
				if (this.stalled.delete(pair)) this.stalledClosed++;
				client.destroy();
				upstream.destroy();
			};
			for (const socket of [client, upstream]) {
				socket.on('error', close);
				socket.on('close', close);
			}
		});
		await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
		this.port = (this.server.address() as { port: number }).port;
	}

	/** Resolves once no client command has passed for `ms` (the client waits for mail). */
	async untilQuiet(ms: number, timeoutMs = 30_000): Promise<void> {
		const total = () => [...this.commands.values()].reduce((a, b) => a + b, 0);
		const deadline = Date.now() + timeoutMs;
		let [seen, since] = [total(), Date.now()];
		while (Date.now() - since < ms) {
			if (Date.now() > deadline)
				throw new Error(`no ${ms} ms without a command in ${timeoutMs} ms`);
			await new Promise((resolve) => setTimeout(resolve, 50));
			if (total() !== seen) [seen, since] = [total(), Date.now()];
		}
	}

	/**
	 * Every open session goes silent and stays open: from now on nothing passes either way, and no
	 * side is told (a NAT, firewall or proxy that lost the connection's state, or a server that hangs).
	 * Sessions opened later pass as before. Returns how many sessions were stalled.
	 */
	stall(): number {
		const open = [...this.live];
		for (const pair of open) this.silence(pair);
		return open.length;
	}

	private silence(pair: { client: TLSSocket; upstream: TLSSocket }): void {
		const { client, upstream } = pair;
		this.live.delete(pair);
		client.unpipe(upstream);
		client.removeAllListeners('data');
		upstream.removeAllListeners('data');
		// Read and dropped, so that neither side's writes are ever refused or pushed back.
		// (unpipe paused the client's side: resumed, or its end would never be seen.)
		client.on('data', () => undefined).resume();
		upstream.on('data', () => undefined).resume();
		this.stalled.add(pair);
	}

	/** Ends every open session with `* BYE <text>`, then closes it. */
	byeAll(text: string): number {
		let ended = 0;
		for (const { client, upstream } of [...this.live]) {
			upstream.removeAllListeners('data');
			upstream.destroy();
			client.end(`* BYE ${text}\r\n`);
			ended++;
		}
		this.byes += ended;
		return ended;
	}

	async stop(): Promise<void> {
		for (const { client, upstream } of [...this.live, ...this.stalled]) {
			client.destroy();
			upstream.destroy();
		}
		await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
	}
}

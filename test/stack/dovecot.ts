/**
 * Dovecot (Debian's dovecot-imapd + dovecot-auth-lua) run unprivileged-port and standalone, offering
 * XOAUTH2 as Exchange Online does: JWTs validated locally against the test OAuth2 server's key, and a
 * Lua passdb that asks that server about shared-mailbox and app-only grants.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
	chmodSync,
	chownSync,
	existsSync,
	mkdirSync,
	readFileSync,
	rmSync,
	writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';

import { MAILBOXES, OUTLOOK_RESOURCE, TENANT_ID } from './directory';

export interface DovecotOptions {
	dir: string;
	imapPort: number;
	imapsPort: number;
	certPath: string;
	keyPath: string;
	caCertPath: string;
	oauthUrl: string;
	signingKid: string;
	signingKeyPem: string;
}

const NOBODY_UID = 65534;
const NOGROUP_GID = 65534;

export class DovecotServer {
	readonly configPath: string;
	readonly mailDir: string;
	readonly logPath: string;

	constructor(readonly options: DovecotOptions) {
		this.configPath = join(options.dir, 'dovecot.conf');
		this.mailDir = join(options.dir, 'mail');
		this.logPath = join(options.dir, 'dovecot.log');
	}

	private writeConfig(): void {
		const { dir } = this.options;
		const run = join(dir, 'run');
		rmSync(run, { recursive: true, force: true });
		for (const sub of ['run', 'state', 'keys/default/RS256'])
			mkdirSync(join(dir, sub), { recursive: true });
		mkdirSync(this.mailDir, { recursive: true });
		chownSync(this.mailDir, NOBODY_UID, NOGROUP_GID);
		writeFileSync(
			join(dir, 'keys/default/RS256', this.options.signingKid),
			this.options.signingKeyPem,
		);
		writeFileSync(
			join(dir, 'users'),
			MAILBOXES.map((m) => `${m}::${NOBODY_UID}:${NOGROUP_GID}::${join(this.mailDir, m)}::\n`).join(
				'',
			),
		);
		writeFileSync(
			join(dir, 'oauth2.conf'),
			[
				'introspection_mode = local',
				`local_validation_key_dict = fs:posix:prefix=${join(dir, 'keys')}/`,
				`issuers = https://sts.windows.net/${TENANT_ID}/`,
				'username_attribute = upn',
				'username_format = %Lu',
				`audience = ${OUTLOOK_RESOURCE}`,
				'',
			].join('\n'),
		);
		// Every XOAUTH2 login asks the OAuth2 server, as Exchange asks Entra: signature, issuer,
		// audience, expiry, the IMAP scope or role, and the grant on a shared mailbox. (Dovecot's own
		// oauth2 passdb cannot check Entra's `scp` claim, so it would let a token without the IMAP
		// scope in; oauth2.conf is kept for reference.)
		writeFileSync(
			join(dir, 'grant.lua'),
			`
local function clean(s, pattern)
  if s == nil or not string.match(s, pattern) then return nil end
  return s
end

function auth_passdb_lookup(req)
  return dovecot.auth.PASSDB_RESULT_USER_UNKNOWN, "lookup not supported"
end

function auth_password_verify(req, pass)
  local user = clean(req.user, "^[%w@%.%-_]+$")
  local token = clean(pass, "^[%w%.%-_]+$")
  if user == nil or token == nil then
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, "malformed"
  end
  local cmd = "curl -s -m 5 --cacert '${this.options.caCertPath}' --data 'protocol=imap' --data 'user=" .. user .. "' --data 'token=" .. token .. "' '${this.options.oauthUrl}/_test/mailbox-grant'"
  local handle = io.popen(cmd)
  local answer = handle:read("*a")
  handle:close()
  if answer == "OK" then
    return dovecot.auth.PASSDB_RESULT_OK, ""
  end
  return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, "not granted"
end
`,
		);
		writeFileSync(
			this.configPath,
			`
base_dir = ${run}
state_dir = ${join(dir, 'state')}
log_path = ${this.logPath}
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <${this.options.certPath}
ssl_key = <${this.options.keyPath}
disable_plaintext_auth = no
auth_mechanisms = xoauth2 plain login
auth_failure_delay = 0
auth_verbose = yes
auth_cache_size = 0
postmaster_address = postmaster@example.test
mail_location = maildir:~/Maildir
mail_uid = ${NOBODY_UID}
mail_gid = ${NOGROUP_GID}
first_valid_uid = ${NOBODY_UID}
first_valid_gid = ${NOGROUP_GID}
mail_privileged_group =
imap_capability = +UIDPLUS MOVE

namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox "Sent Items" {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox "Deleted Items" {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox "Junk Email" {
    special_use = \\Junk
    auto = subscribe
  }
  mailbox Archive {
    special_use = \\Archive
    auto = subscribe
  }
}

passdb {
  driver = lua
  mechanisms = xoauth2
  args = file=${join(dir, 'grant.lua')} blocking=yes
}
userdb {
  driver = passwd-file
  args = username_format=%Lu ${join(dir, 'users')}
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${this.options.imapPort}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${this.options.imapsPort}
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
protocol lda {
  mail_plugins =
}
`,
		);
		chmodSync(dir, 0o755);
	}

	/**
	 * A second Dovecot in the same folder would rewrite the running one's configuration, keys and
	 * sockets, so that its sign-ins fail midway (a bench drain read 7,500 of 10,000 that way). Refused,
	 * naming the Dovecot that runs there; a pid file left by a Dovecot that is gone is no obstacle.
	 */
	private refuseIfRunning(): void {
		const pidFile = join(this.options.dir, 'run', 'master.pid');
		if (!existsSync(pidFile)) return;
		const pid = readFileSync(pidFile, 'utf8').trim();
		let command = '';
		try {
			command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
		} catch {
			return;
		}
		if (command.includes(this.configPath))
			throw new Error(
				`Another stack is running in ${dirname(this.options.dir)} (Dovecot pid ${pid}): wait for it to end, or stop it (kill ${pid}).`,
			);
	}

	async start(): Promise<void> {
		this.refuseIfRunning();
		this.writeConfig();
		await new Promise<void>((resolve, reject) => {
			const child = spawn('dovecot', ['-c', this.configPath], {
				stdio: ['ignore', 'pipe', 'pipe'],
			});
			let output = '';
			child.stdout.on('data', (d) => (output += d));
			child.stderr.on('data', (d) => (output += d));
			child.on('exit', (code) =>
				code === 0 ? resolve() : reject(new Error(`dovecot failed to start: ${output}`)),
			);
		});
		await waitForPort(this.options.imapsPort, 15_000);
	}

	stop(): void {
		try {
			execFileSync('dovecot', ['-c', this.configPath, 'stop'], { stdio: 'ignore' });
		} catch {
			// already stopped
		}
	}

	/** Stops and starts again, as a server restart between polls would (mail is kept). */
	async restart(): Promise<void> {
		this.stop();
		await waitForPortClosed(this.options.imapsPort, 10_000);
		await this.start();
	}

	/** Delivers a raw message into a mailbox folder as the MTA would (dovecot-lda). */
	deliver(
		mailbox: string,
		raw: Buffer | string,
		folder?: string,
		from = 'sender@example.test',
	): void {
		const args = ['-c', this.configPath, '-d', mailbox, '-f', from];
		if (folder) args.push('-m', folder);
		execFileSync('/usr/lib/dovecot/dovecot-lda', args, {
			input: raw,
			stdio: ['pipe', 'ignore', 'pipe'],
		});
	}
}

export function waitForPort(port: number, timeoutMs: number): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	return new Promise((resolve, reject) => {
		const attempt = () => {
			const socket = connect(port, '127.0.0.1');
			socket.once('connect', () => {
				socket.destroy();
				resolve();
			});
			socket.once('error', () => {
				socket.destroy();
				if (Date.now() > deadline) reject(new Error(`port ${port} did not open`));
				else setTimeout(attempt, 100);
			});
		};
		attempt();
	});
}

function waitForPortClosed(port: number, timeoutMs: number): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	return new Promise((resolve) => {
		const attempt = () => {
			const socket = connect(port, '127.0.0.1');
			socket.once('connect', () => {
				socket.destroy();
				if (Date.now() > deadline) resolve();
				else setTimeout(attempt, 100);
			});
			socket.once('error', () => {
				socket.destroy();
				resolve();
			});
		};
		attempt();
	});
}

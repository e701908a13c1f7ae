/**
 * Starts the local mail stack by hand (`npm run stack`) and prints how to connect; Ctrl-C stops it.
 * With --ready-file F it writes the stack info to F once ready (used by test/run.mjs); with --dir D
 * it keeps its state in D instead of .stack (test/run.mjs runs one stack per lane).
 */
/* eslint-disable no-console */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

import { APPS, TENANT_ID, USERS } from './directory';
import { startStack } from './index';

async function main(): Promise<void> {
	const readyIndex = process.argv.indexOf('--ready-file');
	const dirIndex = process.argv.indexOf('--dir');
	const stack = await startStack(dirIndex > 0 ? { dir: resolve(process.argv[dirIndex + 1]) } : {});
	const { info } = stack;
	if (readyIndex > 0) writeFileSync(process.argv[readyIndex + 1], JSON.stringify(info));
	else {
		console.log(`Local Microsoft-like mail stack is up.

  OAuth2 (Entra stand-in): ${info.oauthUrl}/${TENANT_ID}/oauth2/v2.0/{authorize,token}
  IMAP (TLS):              127.0.0.1:${info.imapsPort}   (STARTTLS: ${info.imapPort})
  SMTP (STARTTLS):         127.0.0.1:${info.smtpPort}
  SMTP (TLS):              127.0.0.1:${info.smtpsPort}
  Test CA (for NODE_EXTRA_CA_CERTS): ${info.caCertPath}

  Credential "Custom" cloud: Login URL ${info.oauthUrl}, IMAP host 127.0.0.1 port ${info.imapsPort},
  SMTP host 127.0.0.1 port ${info.smtpPort}, tenant ${TENANT_ID}.
  Delegated app: client ID ${APPS.delegated.clientId}, secret ${APPS.delegated.secrets[0].value}
  App-only app:  client ID ${APPS.service.clientId}, secret ${APPS.service.secrets[0].value} (granted shared@example.test)
  Users: ${Object.values(USERS)
		.map((u) => u.upn)
		.join(', ')}; shared@example.test is shared with alice.

Ctrl-C stops everything.`);
	}
	const shutdown = () => {
		stack.stop().finally(() => process.exit(0));
	};
	process.on('SIGINT', shutdown);
	process.on('SIGTERM', shutdown);
}

main().catch((error) => {
	console.error(error);
	process.exit(1);
});

import type {
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	INodeCredentialTestResult,
} from 'n8n-workflow';

import { MailServiceError } from '../transport/auth/errors';
import type { ResourceKind } from '../transport/auth/scopes';
import { parseAllowedMailboxes } from '../transport/auth/mailboxes';
import { APP_ONLY_CREDENTIAL, appOnlyProviderFromData } from '../transport/connection';
import { openMailbox } from '../transport/open';

/**
 * Tests an app-only credential by acquiring a token from Microsoft for the chosen resource(s),
 * and reports Microsoft's error in words.
 */
export async function testAppOnlyCredential(
	this: ICredentialTestFunctions | void,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const data = credential.data ?? {};
	const wanted = (data.testResource as string) ?? 'both';
	const resources: ResourceKind[] =
		wanted === 'both' ? ['graph', 'outlook'] : [wanted as ResourceKind];
	let opened = '';
	try {
		const { cloud, tokens } = appOnlyProviderFromData(data);
		for (const resource of resources) {
			await tokens.getAccessToken(resource, { forceRefresh: true });
		}
		// A token proves the app exists; opening the first mailbox the list names proves the grant.
		const mailbox = parseAllowedMailboxes(data.allowedMailboxes)?.find((m) => !m.startsWith('*@'));
		if (mailbox) {
			const allowUnauthorizedCerts =
				data.allowUnauthorizedCerts === true && data.cloud === 'custom';
			for (const resource of resources) {
				const transport = resource === 'graph' ? 'graph' : 'imap';
				const connection = {
					credentialType: APP_ONLY_CREDENTIAL,
					cloud,
					tokens,
					transport,
				} as const;
				const opening = openMailbox({ ...connection, allowUnauthorizedCerts }, mailbox);
				try {
					await opening.probe();
				} finally {
					await opening.close();
				}
			}
			opened = `; opened the inbox of ${mailbox}`;
		}
	} catch (error) {
		if (error instanceof MailServiceError) {
			const code = error.code ? ` [${error.code}]` : '';
			return { status: 'Error', message: `${error.message}${code}. ${error.fix}` };
		}
		return { status: 'Error', message: 'Token request failed for an unknown reason' };
	}
	const names = resources
		.map((r) => (r === 'graph' ? 'Microsoft Graph' : 'IMAP/SMTP'))
		.join(' and ');
	return { status: 'OK', message: `Connection successful: token issued for ${names}${opened}` };
}

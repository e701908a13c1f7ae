import type {
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	INodeCredentialTestResult,
} from 'n8n-workflow';

import { MailServiceError } from '../transport/auth/errors';
import type { ResourceKind } from '../transport/auth/scopes';
import { appOnlyProviderFromData } from '../transport/connection';

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
	try {
		const { tokens } = appOnlyProviderFromData(data);
		for (const resource of resources) {
			await tokens.getAccessToken(resource, { forceRefresh: true });
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
	return { status: 'OK', message: `Connection successful: token issued for ${names}` };
}

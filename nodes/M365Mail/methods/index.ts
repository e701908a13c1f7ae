/**
 * The nodes' methods, each loaded on its first call: n8n loads a node file in every process that
 * may run it, while a folder list or a credential test runs rarely (and needs the transports).
 */
import type {
	ICredentialsDecrypted,
	ICredentialTestFunctions,
	ILoadOptionsFunctions,
	INodeCredentialTestResult,
	INodeListSearchResult,
} from 'n8n-workflow';

export async function searchFolders(
	this: ILoadOptionsFunctions,
	filter?: string,
): Promise<INodeListSearchResult> {
	const method = await import('./listSearch');
	return await method.searchFolders.call(this, filter);
}

export async function testAppOnlyCredential(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	const method = await import('./credentialTest');
	return await method.testAppOnlyCredential.call(this, credential);
}

/** The methods every node of this package offers. */
export const nodeMethods = {
	credentialTest: { m365MailAppOnlyTest: testAppOnlyCredential },
	listSearch: { searchFolders },
};

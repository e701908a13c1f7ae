/** Errors as n8n shows them: what failed in the message, the fix in the description, no secret. */
import { NodeApiError, NodeOperationError, type INode, type JsonObject } from 'n8n-workflow';

import { MailServiceError, redactSecrets } from '../transport/auth/errors';

/** Wraps a transport error for n8n: the message says what failed, the description names the fix. */
export function toNodeError(node: INode, error: unknown, itemIndex?: number): Error {
	if (error instanceof NodeApiError || error instanceof NodeOperationError) return error;
	if (error instanceof MailServiceError) {
		const options = {
			itemIndex,
			message: error.message,
			description: error.code ? `${error.fix} (code: ${error.code})` : error.fix,
			httpCode: error.httpStatus ? String(error.httpStatus) : undefined,
		};
		if (['credential', 'tenant', 'scope', 'input'].includes(error.kind) && !error.httpStatus) {
			return new NodeOperationError(node, error.message, options);
		}
		return new NodeApiError(
			node,
			{ message: error.message, code: error.code ?? null } as JsonObject,
			options,
		);
	}
	// A library's own error can quote what it sent (an XOAUTH2 string, a token): redact it too.
	const e = error as Error;
	return new NodeOperationError(node, redactSecrets(e?.message ?? String(error)), { itemIndex });
}

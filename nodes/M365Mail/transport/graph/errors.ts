/** Graph's answers turned into errors that name the fix, and its Retry-After read. */
import { MailServiceError, redactSecrets } from '../auth/errors';

/** An error body as Graph sends it. */
export interface GraphErrorBody {
	error?: { code?: string; message?: string };
}

/** Graph's error codes, mapped to what the user should do. */
export function mapGraphError(
	status: number,
	code: string,
	message: string,
	mailbox: string,
	appOnly: boolean,
): MailServiceError {
	const text = redactSecrets(message).slice(0, 300);
	const make = (msg: string, fix: string, kind: MailServiceError['kind']) =>
		new MailServiceError(msg, fix, kind, code || `HTTP ${status}`, status);
	switch (code) {
		case 'ErrorAccessDenied':
		case 'AccessDenied':
		case 'ErrorSendAsDenied':
			return make(
				`No permission on the mailbox ${mailbox}: ${text}`,
				appOnly
					? 'Give the app the Mail.ReadWrite / Mail.Send application permissions with admin consent, and check that no application access policy excludes this mailbox.'
					: 'Give the signed-in user Full Access (and Send As for sending) on the mailbox, and make sure the credential has the Mail.ReadWrite.Shared and Mail.Send.Shared scopes ("Shared Mailbox Access"), then reconnect it.',
				'mailboxAccess',
			);
		case 'ErrorInvalidUser':
		case 'MailboxNotEnabledForRESTAPI':
		case 'ResourceNotFound':
			return make(
				`Mailbox ${mailbox} was not found: ${text}`,
				'Check the Mailbox address (the UPN or primary SMTP address of a mailbox in this tenant).',
				'notFound',
			);
		case 'ErrorItemNotFound':
			return make(
				`Not found in ${mailbox}: ${text}`,
				'The message or folder does not exist (any more). Message ids from this node stay the same when a message moves; pick the folder from the list.',
				'notFound',
			);
		case 'ErrorInvalidIdMalformed':
			return make(
				`The ID is not a Microsoft Graph message or folder ID: ${text}`,
				'Use the "id" of an item from the trigger or Get Many with Microsoft Graph access; IMAP ids (imap:...) only work over IMAP.',
				'input',
			);
		case 'InvalidAuthenticationToken':
			return make(
				`Microsoft Graph refused the token: ${text}`,
				appOnly
					? 'Check the app-only credential (cloud, tenant, client ID and secret or certificate).'
					: 'Reconnect the credential; make sure its Access is Microsoft Graph.',
				'credential',
			);
		case 'TooManyRequests':
		case 'ApplicationThrottled':
		case 'ServiceUnavailable':
			return make(
				`Microsoft Graph is throttling requests for ${mailbox}: ${text}`,
				'Wait a few minutes, lower the poll frequency, or send fewer items at once.',
				'throttled',
			);
		case 'syncStateNotFound':
		case 'SyncStateNotFound':
		case 'resyncRequired':
		case 'InvalidSyncStateData':
			return make(
				`The delta state expired: ${text}`,
				'The trigger starts a new baseline.',
				'syncState',
			);
		default:
			// Any 410 Gone from a delta query means its state is dead, whatever the code says.
			if (status === 410)
				return make(
					`The delta state is gone (${code || 'HTTP 410'}): ${text}`,
					'The trigger starts a new baseline.',
					'syncState',
				);
			return make(
				`Microsoft Graph error ${status}${code ? ` ${code}` : ''}: ${text}`,
				'See the error details; check the credential, mailbox and parameters.',
				status === 400 ? 'input' : 'unknown',
			);
	}
}

/** Seconds or an HTTP date, in ms from now. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
	if (!header) return undefined;
	const seconds = Number(header);
	if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
	const date = Date.parse(header);
	return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** At most this many requests in flight per mailbox (Graph's per-mailbox concurrency limit). */

/**
 * An app-only credential reaches every mailbox of the tenant that Exchange lets the app reach, and a
 * node's Mailbox parameter can come from an expression fed by incoming mail. The credential's
 * "Allowed Mailboxes" list narrows that on our side, before any request.
 */
import { MailServiceError } from './errors';

const ADDRESS = /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+$/u;
const DOMAIN = /^\*@[^\s@*\p{Cc}]+$/u;

/** The list as the credential holds it (addresses or `*@domain`, separated by commas, semicolons or lines). */
export function parseAllowedMailboxes(value: unknown): string[] | undefined {
	const entries = String(value ?? '')
		.split(/[,;\s]+/)
		.map((e) => e.trim().toLowerCase())
		.filter(Boolean);
	if (!entries.length) return undefined;
	const bad = entries.filter((e) => !ADDRESS.test(e) || (e.includes('*') && !DOMAIN.test(e)));
	if (bad.length) {
		throw new MailServiceError(
			`Allowed Mailboxes has ${bad.length} entr${bad.length === 1 ? 'y' : 'ies'} that are neither an address nor *@domain`,
			'Write addresses (shared@contoso.com) or whole domains (*@contoso.com), separated by commas.',
			'credential',
		);
	}
	return entries;
}

/** Throws unless the mailbox is on the list (no list: every mailbox). */
export function assertMailboxAllowed(allowed: string[] | undefined, mailbox: string): void {
	if (!allowed) return;
	const address = mailbox.trim().toLowerCase();
	const domain = address.slice(address.lastIndexOf('@'));
	if (allowed.some((entry) => entry === address || entry === `*${domain}`)) return;
	throw new MailServiceError(
		`The credential does not allow the mailbox ${address}`,
		'Its "Allowed Mailboxes" list does not name this address or its domain: add it there, or use another mailbox.',
		'mailboxAccess',
		'MailboxNotAllowed',
	);
}

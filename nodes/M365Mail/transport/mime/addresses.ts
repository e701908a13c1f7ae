/** Recipient lists as people type them, read by nodemailer's own address parser. */
import { lazy } from '../lazy';

const loadAddressParser = lazy(() => import('nodemailer/lib/addressparser'));

/**
 * `"Doe, John" <john@example.com>; jane@example.com` into one entry per address (a group's members
 * included), names kept. A plain split on commas would cut the quoted name in two.
 */
export async function splitAddresses(value: string | string[] | undefined): Promise<string[]> {
	const text = (Array.isArray(value) ? value.join(', ') : String(value ?? '')).replace(/;/g, ',');
	if (!text.trim()) return [];
	const parse = (await loadAddressParser()).default;
	const result: string[] = [];
	for (const entry of parse(text, { flatten: true })) {
		if (!entry.address) continue;
		const name = entry.name?.replace(/["\\]/g, '').trim();
		result.push(name ? `"${name}" <${entry.address}>` : entry.address);
	}
	return result;
}

/**
 * The recipient's side of Send and Wait for Response in real n8n: the mail as it arrived, and the
 * button of the page a link opens.
 */
import { simpleParser } from 'mailparser';

import { testImap } from '../harness/mail';
import type { N8nInstance } from './n8n';

/** The mail with this subject once it is in the mailbox's Inbox: its HTML, text and links in order. */
export async function mailTo(
	n8n: N8nInstance,
	mailbox: string,
	subject: string,
): Promise<{ html: string; text: string; links: string[] }> {
	const source = await n8n.waitFor(`the mail to ${mailbox}`, async () => {
		const client = await testImap(mailbox);
		try {
			const lock = await client.getMailboxLock('INBOX', { readOnly: true });
			try {
				const [uid] = (await client.search({ subject }, { uid: true })) || [];
				if (!uid) return undefined;
				const message = await client.fetchOne(String(uid), { source: true }, { uid: true });
				return message ? message.source : undefined;
			} finally {
				lock.release();
			}
		} finally {
			await client.logout();
		}
	});
	const parsed = await simpleParser(source);
	const html = String(parsed.html || '');
	const links = [...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1].replace(/&amp;/g, '&'));
	return { html, text: parsed.text ?? '', links };
}

/**
 * The button of a response page: a form POST to the link, with a free-text answer if given, or a
 * Custom Form's fields as a browser sends that form, as multipart/form-data (a field with several
 * choices repeats its name).
 */
export async function post(
	link: string,
	response?: string | Array<[string, string]>,
): Promise<Response> {
	if (Array.isArray(response)) {
		const form = new FormData();
		for (const [name, value] of response) form.append(name, value);
		return await fetch(link, { method: 'POST', body: form });
	}
	return await fetch(link, {
		method: 'POST',
		headers: { 'content-type': 'application/x-www-form-urlencoded' },
		body: response === undefined ? '' : new URLSearchParams({ response }).toString(),
	});
}

/** Sending over Microsoft Graph: composed MIME in one sendMail, or a draft with uploaded attachments. */
import { MailServiceError } from '../auth/errors';
import { draftWithoutRecipients, notADraft } from '../mime/draft';
import type { GraphClient } from './client';
import { addresses, deleteGraphMessage, type GraphRecipient } from './messages';

/** Raw MIME up to this size goes in one sendMail request (base64 makes it Graph's 4 MB request limit). */
export const GRAPH_MIME_LIMIT = 3 * 1024 * 1024;
/** Attachments under 3 MB are added in one request; larger ones through an upload session. */
export const GRAPH_ATTACHMENT_POST_LIMIT = 3 * 1024 * 1024;
/** Upload session ranges: ten times 320 KiB, under Graph's 4 MB per PUT. */
export const GRAPH_UPLOAD_CHUNK = 10 * 320 * 1024;

/** Sends composed MIME (base64, as Graph's sendMail takes it); never retried. */
export async function sendGraphMime(client: GraphClient, raw: Buffer): Promise<void> {
	if (raw.length > GRAPH_MIME_LIMIT) {
		throw new MailServiceError(
			`The message is ${(raw.length / 1024 / 1024).toFixed(1)} MB: Graph's sendMail takes up to 3 MB of MIME`,
			'Send it with its attachments added to a draft (sendGraphWithUploads).',
			'input',
		);
	}
	await client.request({
		method: 'POST',
		path: '/sendMail',
		text: raw.toString('base64'),
		idempotent: false,
	});
}

export interface GraphUpload {
	filename: string;
	contentType?: string;
	content: Buffer;
	contentId?: string;
}

/** One attachment on a draft: a single POST under 3 MB, else an upload session in ranges under 4 MB. */
export async function addGraphAttachment(
	client: GraphClient,
	messageId: string,
	attachment: GraphUpload,
): Promise<void> {
	const path = `/messages/${encodeURIComponent(messageId)}/attachments`;
	const common = {
		name: attachment.filename,
		contentType: attachment.contentType ?? 'application/octet-stream',
		isInline: Boolean(attachment.contentId),
		...(attachment.contentId ? { contentId: attachment.contentId } : {}),
	};
	if (attachment.content.length < GRAPH_ATTACHMENT_POST_LIMIT) {
		await client.request({
			method: 'POST',
			path,
			body: {
				'@odata.type': '#microsoft.graph.fileAttachment',
				...common,
				contentBytes: attachment.content.toString('base64'),
			},
			// A repeated POST would attach the file twice.
			idempotent: false,
		});
		return;
	}
	const session = await client.request<{ uploadUrl?: string }>({
		method: 'POST',
		path: `${path}/createUploadSession`,
		body: {
			AttachmentItem: { attachmentType: 'file', ...common, size: attachment.content.length },
		},
		// A second session for the same file is harmless: only a finished one attaches it.
		idempotent: true,
	});
	if (!session.uploadUrl) {
		throw new MailServiceError(
			'Microsoft Graph returned no upload URL for the attachment',
			'Try again; if it persists, send the file as a link.',
			'unknown',
		);
	}
	const total = attachment.content.length;
	for (let start = 0; start < total; start += GRAPH_UPLOAD_CHUNK) {
		const end = Math.min(start + GRAPH_UPLOAD_CHUNK, total);
		await client.request({
			method: 'PUT',
			path: session.uploadUrl,
			bytes: attachment.content.subarray(start, end),
			headers: { 'content-range': `bytes ${start}-${end - 1}/${total}` },
			anonymous: true,
			// The same range again after a dropped connection is what upload sessions are for.
			idempotent: true,
		});
	}
}

/**
 * A draft from MIME (so headers, threading and Bcc are those of a direct send), in the mailbox's
 * Drafts folder, with its attachments added one by one (mail over 3 MB is given without them). A
 * draft whose attachments fail is deleted: no half draft is left. Its id and folder id.
 */
export async function createGraphDraft(
	client: GraphClient,
	draftRaw: Buffer,
	attachments: GraphUpload[],
): Promise<{ id: string; parentFolderId?: string }> {
	if (draftRaw.length > GRAPH_MIME_LIMIT) {
		throw new MailServiceError(
			`The message body alone is ${(draftRaw.length / 1024 / 1024).toFixed(1)} MB: Graph takes up to 3 MB without attachments`,
			'Move large content into attachments (they can be up to 150 MB each).',
			'input',
		);
	}
	const draft = await client.request<{ id: string; parentFolderId?: string }>({
		method: 'POST',
		path: '/messages',
		text: draftRaw.toString('base64'),
		idempotent: false,
	});
	try {
		for (const attachment of attachments) await addGraphAttachment(client, draft.id, attachment);
	} catch (error) {
		await deleteGraphMessage(client, draft.id).catch(() => undefined);
		throw error;
	}
	return draft;
}

/**
 * Mail over 3 MB: the message without its attachments becomes a draft with its attachments added
 * (createGraphDraft), then the draft is sent. The send itself is never retried.
 */
export async function sendGraphWithUploads(
	client: GraphClient,
	draftRaw: Buffer,
	attachments: GraphUpload[],
): Promise<void> {
	const draft = await createGraphDraft(client, draftRaw, attachments);
	await client.request({
		method: 'POST',
		path: `/messages/${encodeURIComponent(draft.id)}/send`,
		idempotent: false,
	});
}

/** What Send Draft reads of a draft before it sends it. */
interface GraphDraft {
	isDraft?: boolean;
	subject?: string;
	internetMessageId?: string;
	toRecipients?: GraphRecipient[];
	ccRecipients?: GraphRecipient[];
	bccRecipients?: GraphRecipient[];
}

/**
 * Sends a saved draft (Graph moves it to Sent Items). A message that is not a draft, or a draft
 * without recipients, is refused before the send. The draft's recipients, subject and Message-ID.
 */
export async function sendGraphDraft(
	client: GraphClient,
	id: string,
): Promise<{ to: string[]; cc: string[]; bcc: string[]; subject: string; messageId: string }> {
	const path = `/messages/${encodeURIComponent(id)}`;
	const $select = 'isDraft,subject,internetMessageId,toRecipients,ccRecipients,bccRecipients';
	const draft = await client.request<GraphDraft>({ path, query: { $select } });
	if (draft.isDraft !== true) throw notADraft();
	const list = (recipients: GraphRecipient[] | undefined) =>
		addresses(recipients)
			.map((a) => a.address)
			.filter(Boolean);
	const [to, cc, bcc] = [draft.toRecipients, draft.ccRecipients, draft.bccRecipients].map(list);
	if (!to.length && !cc.length && !bcc.length) throw draftWithoutRecipients();
	await client.request({ method: 'POST', path: `${path}/send`, idempotent: false });
	return { to, cc, bcc, subject: draft.subject ?? '', messageId: draft.internetMessageId ?? '' };
}

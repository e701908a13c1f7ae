/** Attachments over Microsoft Graph: listed from JSON, downloaded from `$value`, named by our one rule. */
import { MailServiceError } from '../auth/errors';
import { attachmentName, safeMimeType } from '../mime/filename';
import { MAX_MESSAGE_BYTES, type AttachmentContent } from '../types';
import type { GraphClient } from './client';

interface GraphAttachmentJson {
	'@odata.type'?: string;
	id: string;
	name?: string;
	contentType?: string;
	size?: number;
	isInline?: boolean;
	contentId?: string;
	contentBytes?: string;
}

const ITEM_ATTACHMENT = '#microsoft.graph.itemAttachment';

/** An attached Outlook item (a forwarded mail) is saved as .eml: its `$value` is MIME. */
function itemName(name: string | undefined, index: number) {
	const named = attachmentName(/\.eml$/i.test(name ?? '') ? name : `${name ?? ''}.eml`, index);
	return name && named.filename !== name
		? { ...named, originalFileName: name.slice(0, 1000) }
		: named;
}

/** A file attachment's name and type, by the same rule as MIME attachments. */
function fileName(name: string | undefined, contentType: string | undefined, index: number) {
	const named = attachmentName(name, index);
	return { ...named, contentType: safeMimeType(contentType, named.filename) };
}

export async function listGraphAttachments(client: GraphClient, id: string) {
	const answer = await client.request<{ value: GraphAttachmentJson[] }>({
		path: `/messages/${encodeURIComponent(id)}/attachments`,
		query: { $select: 'id,name,contentType,size,isInline,contentId' },
	});
	return answer.value.map((a, index) => {
		const item = a['@odata.type'] === ITEM_ATTACHMENT;
		return {
			index,
			...(item
				? { ...itemName(a.name, index), contentType: 'message/rfc822' }
				: fileName(a.name, a.contentType, index)),
			size: a.size ?? 0,
			contentId: a.contentId ?? undefined,
			inline: a.isInline === true,
			graphId: a.id,
			item,
		};
	});
}

export async function downloadGraphAttachment(
	client: GraphClient,
	messageId: string,
	attachmentId: string,
	index: number,
): Promise<AttachmentContent> {
	const path = `/messages/${encodeURIComponent(messageId)}/attachments/${encodeURIComponent(attachmentId)}`;
	// The description, then the bytes from `$value`: never base64 in JSON (2.3 times the file in memory).
	const full = await client.request<GraphAttachmentJson>({
		path,
		query: { $select: 'id,name,contentType,size,isInline,contentId' },
	});
	if ((full.size ?? 0) > MAX_MESSAGE_BYTES) {
		throw new MailServiceError(
			`The attachment is ${full.size} bytes, more than the ${MAX_MESSAGE_BYTES / 1024 / 1024} MB this node downloads`,
			'Open it in Outlook, or share it through OneDrive or SharePoint instead.',
			'input',
			'AttachmentTooLarge',
		);
	}
	const content = await client.request<Buffer>({ path: `${path}/$value`, binary: true });
	if (full['@odata.type'] === ITEM_ATTACHMENT) {
		return {
			index,
			...itemName(full.name, index),
			contentType: 'message/rfc822',
			size: content.length,
			inline: false,
			content,
		};
	}
	return {
		index,
		...fileName(full.name, full.contentType, index),
		size: full.size ?? content.length,
		contentId: full.contentId,
		inline: full.isInline === true,
		content,
	};
}

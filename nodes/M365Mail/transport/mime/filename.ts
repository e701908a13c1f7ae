/**
 * One rule for every attachment name a sender chose, before it reaches n8n's binary data, an item,
 * a file written by a later node, or mail we send on: anyone on the internet can send mail to a
 * watched mailbox, so the name is hostile until proven otherwise.
 */

/** Bytes of UTF-8 a file name may take (ext4, NTFS, S3 keys and SharePoint all accept this). */
const MAX_BYTES = 255;
/** An extension is kept whole when it is at most this long (".tar.gz" counts its last part). */
const MAX_EXTENSION = 16;

/** Device names Windows will not create as files, whatever the extension. */
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$/i;

/**
 * Control characters, bidirectional overrides and embeddings, and the other invisible format
 * characters (zero-width and soft hyphen among them): a right-to-left override makes "exe" read as
 * "pdf", a NUL or CR LF cuts or splits a path or a header.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** Characters no Windows file name may hold (and the path separators of every system). */
const FORBIDDEN = /[<>:"/\\|?*]/g;

function utf8Length(text: string): number {
	return Buffer.byteLength(text, 'utf8');
}

/** Cuts to at most `bytes` of UTF-8 without splitting a character. */
function cutBytes(text: string, bytes: number): string {
	let result = '';
	for (const char of text) {
		if (utf8Length(result + char) > bytes) break;
		result += char;
	}
	return result;
}

/**
 * A file name safe to hand on: the last path segment only, no control, bidi or other invisible
 * characters, no characters Windows forbids, no leading dots or trailing dots and spaces, no Windows
 * device names, at most 255 bytes of UTF-8 with the extension kept; `attachment-N` when nothing is left.
 */
export function safeFileName(name: string | null | undefined, index: number): string {
	const fallback = `attachment-${index + 1}`;
	const raw = String(name ?? '').normalize('NFC');
	// The last segment of any path, whichever separator the sender used.
	const base =
		raw
			.split(/[/\\]/)
			.filter((s) => s.trim() !== '' && s !== '.' && s !== '..')
			.pop() ?? '';
	let clean = base
		.replace(INVISIBLE, '')
		.replace(FORBIDDEN, '_')
		.replace(/\s+/g, ' ')
		.replace(/^[\s.]+/, '')
		.replace(/[\s.]+$/, '');
	if (!clean) return fallback;
	const dot = clean.lastIndexOf('.');
	let stem = dot > 0 ? clean.slice(0, dot) : clean;
	let extension = dot > 0 ? clean.slice(dot) : '';
	if (extension.length > MAX_EXTENSION + 1) {
		stem = clean;
		extension = '';
	}
	if (WINDOWS_RESERVED.test(stem.split('.')[0])) stem = `_${stem}`;
	if (utf8Length(stem + extension) > MAX_BYTES)
		stem = cutBytes(stem, MAX_BYTES - utf8Length(extension)).replace(/[\s.]+$/, '');
	clean = `${stem}${extension}`;
	return clean && clean !== extension ? clean : fallback + extension;
}

/**
 * The name to hand on, with the sender's own kept as `originalFileName` when the rule changed it
 * (cut to 1,000 characters: it is for reading, never for a path).
 */
export function attachmentName(
	name: string | null | undefined,
	index: number,
): { filename: string; originalFileName?: string } {
	const filename = safeFileName(name, index);
	return name && name !== filename
		? { filename, originalFileName: String(name).slice(0, 1000) }
		: { filename };
}

/** RFC 2045 type/subtype: tokens only. */
const MIME_TYPE = /^[a-z0-9!#$&^_.+-]{1,64}\/[a-z0-9!#$&^_.+-]{1,127}$/i;

const BY_EXTENSION: Record<string, string> = {
	'.pdf': 'application/pdf',
	'.txt': 'text/plain',
	'.csv': 'text/csv',
	'.htm': 'text/html',
	'.html': 'text/html',
	'.xml': 'application/xml',
	'.json': 'application/json',
	'.zip': 'application/zip',
	'.gz': 'application/gzip',
	'.eml': 'message/rfc822',
	'.ics': 'text/calendar',
	'.png': 'image/png',
	'.jpg': 'image/jpeg',
	'.jpeg': 'image/jpeg',
	'.gif': 'image/gif',
	'.webp': 'image/webp',
	'.svg': 'image/svg+xml',
	'.doc': 'application/msword',
	'.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
	'.xls': 'application/vnd.ms-excel',
	'.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
	'.ppt': 'application/vnd.ms-powerpoint',
	'.pptx': 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
};

/** The declared MIME type where it is a valid one (lower-cased); otherwise one by extension. */
export function safeMimeType(declared: string | null | undefined, fileName: string): string {
	const type = String(declared ?? '')
		.split(';')[0]
		.trim()
		.toLowerCase();
	if (MIME_TYPE.test(type)) return type;
	const dot = fileName.lastIndexOf('.');
	return (
		BY_EXTENSION[dot >= 0 ? fileName.slice(dot).toLowerCase() : ''] ?? 'application/octet-stream'
	);
}

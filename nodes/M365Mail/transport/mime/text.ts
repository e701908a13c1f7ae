/** Plain text for HTML-only mail, as mailparser renders it (html-to-text, loaded on first use). */
import { TEXT_LIMIT_BYTES } from '../types';
import { lazy } from '../lazy';

const loadHtmlToText = lazy(() => import('html-to-text'));

/** The text of an HTML body: links without their targets, no images, no line wrapping. */
export async function htmlToPlainText(html: string): Promise<string> {
	const { convert } = await loadHtmlToText();
	const text = convert(html.length > TEXT_LIMIT_BYTES ? html.slice(0, TEXT_LIMIT_BYTES) : html, {
		wordwrap: false,
		selectors: [
			{ selector: 'img', format: 'skip' },
			{ selector: 'a', options: { ignoreHref: true } },
		],
	});
	return text.replace(/\r\n/g, '\n').trim();
}

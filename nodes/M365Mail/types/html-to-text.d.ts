/** The part of html-to-text (mailparser's own HTML renderer) this package uses. */
declare module 'html-to-text' {
	export function convert(html: string, options?: Record<string, unknown>): string;
}

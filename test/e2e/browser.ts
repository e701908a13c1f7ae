/**
 * Chromium (Debian's package) driven by playwright-core, for the editor tests: a fresh profile per
 * run, the flags that keep Chromium quiet and offline, and the editor's sign-in.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium, selectors, type BrowserContext, type Page } from 'playwright-core';

import { OWNER } from './n8n';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function chromiumInstalled(): boolean {
	return existsSync(CHROMIUM);
}

export async function launchBrowser(): Promise<BrowserContext> {
	// n8n marks its elements with data-test-id.
	selectors.setTestIdAttribute('data-test-id');
	return await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'm365-chromium-')), {
		executablePath: CHROMIUM,
		headless: true,
		viewport: { width: 1440, height: 900 },
		// The local OAuth2 server's certificate comes from the test CA, which Chromium does not know.
		ignoreHTTPSErrors: true,
		args: [
			'--no-sandbox',
			'--disable-gpu',
			'--disable-quic',
			'--no-first-run',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-sync',
			'--disable-dev-shm-usage',
		],
	});
}

/** Signs in as the instance owner through the sign-in form. */
export async function signInToEditor(page: Page, baseUrl: string): Promise<void> {
	await page.goto(`${baseUrl}/signin`);
	await page.locator('input[name="emailOrLdapLoginId"]').fill(OWNER.email);
	await page.locator('input[name="password"]').fill(OWNER.password);
	await page.getByTestId('form-submit-button').click();
	await page.waitForURL((url) => !url.pathname.startsWith('/signin'), { timeout: 30_000 });
}

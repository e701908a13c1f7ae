/**
 * The credential UI in a real browser: Chromium (Debian's package) driven by playwright-core against
 * real n8n with our package installed as a community package. A delegated credential is created in
 * the editor with only the Graph fields, "Connect" runs the authorization-code flow against the local
 * OAuth2 server (account picker in the popup), the modal says "Account connected"; then a workflow with
 * the trigger is opened and "Fetch Test Event" shows the newest message in the output panel.
 * Screenshots go to docs/screenshots (the README shows two).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { BrowserContext, Page } from 'playwright-core';

import { graphDeliver, graphFolder } from '../harness/graph';
import { stackInfo } from '../harness/stack';
import { APPS, TENANT_ID } from '../stack/directory';
import { chromiumInstalled, launchBrowser, signInToEditor } from './browser';
import { e2eInstalled, installPackage, N8nInstance, ROOT, triggerWorkflowNode } from './n8n';

const SHOTS = join(ROOT, 'docs/screenshots');
const CREDENTIAL_NAME = 'Alice (browser test)';

let n8n: N8nInstance;
let browser: BrowserContext;
let page: Page;

async function fill(name: string, value: string): Promise<void> {
	await page.getByTestId(`parameter-input-${name}`).locator('input, textarea').first().fill(value);
}

async function choose(name: string, option: string): Promise<void> {
	await page.getByTestId(`parameter-input-${name}`).click();
	await page
		.locator('.el-select-dropdown__item:visible, [role="option"]:visible')
		.filter({ hasText: option })
		.first()
		.click();
}

describe('the credential UI and Fetch Test Event in Chromium', () => {
	before(async () => {
		if (!e2eInstalled()) throw new Error('n8n is not installed: run scripts/e2e-setup.sh');
		if (!chromiumInstalled()) throw new Error('Chromium is not installed: run scripts/setup.sh');
		mkdirSync(SHOTS, { recursive: true });
		mkdirSync(join(ROOT, '.tmp'), { recursive: true });
		const userFolder = mkdtempSync(join(ROOT, '.tmp/e2e-browser-'));
		installPackage(userFolder);
		n8n = new N8nInstance({
			userFolder,
			caCertPath: stackInfo().caCertPath,
			logFile: join(userFolder, 'n8n.log'),
		});
		await n8n.start();
		await n8n.login();
		browser = await launchBrowser();
		page = browser.pages()[0] ?? (await browser.newPage());
		await signInToEditor(page, n8n.url);
	});

	after(async () => {
		await browser?.close();
		await n8n?.stop();
	});

	it('creates the delegated credential with Graph fields only, connects it through the OAuth2 popup: "Account connected"', async () => {
		const stack = stackInfo();
		await page.goto(`${n8n.url}/home/credentials/create`);
		await page
			.getByTestId('new-credential-type-select')
			.locator('input')
			.fill('Microsoft 365 Mail OAuth2');
		await page
			.getByTestId('new-credential-type-select-option')
			.filter({ hasText: 'Microsoft 365 Mail OAuth2 API' })
			.first()
			.click();
		await page.getByTestId('new-credential-type-button').click();
		await page.getByTestId('credential-name').click();
		await page.getByTestId('credential-name').locator('input').fill(CREDENTIAL_NAME);
		await page.getByTestId('credential-name').locator('input').press('Enter');
		await fill('clientId', APPS.delegated.clientId);
		await fill('clientSecret', APPS.delegated.secrets[0].value);
		// The test tenant is a "Custom" cloud; IMAP and SMTP hosts stay empty: Graph does not need them.
		await choose('cloud', 'Custom');
		await fill('customLoginUrl', stack.oauthUrl);
		await fill('customGraphUrl', stack.graphUrl);
		await fill('tenant', TENANT_ID);
		const [popup] = await Promise.all([
			browser.waitForEvent('page'),
			page.getByTestId('quick-connect-button').click(),
		]);
		// The local OAuth2 server's account picker, as Microsoft's sign-in shows one.
		await popup.locator('#alice').waitFor();
		assert.match(popup.url(), new RegExp(`/${TENANT_ID}/oauth2/v2.0/authorize\\?`));
		assert.match(decodeURIComponent(popup.url()), /Mail\.ReadWrite/);
		await popup.screenshot({ path: join(SHOTS, 'oauth-account-picker.png') });
		await Promise.all([popup.waitForEvent('close'), popup.locator('#alice').click()]);
		const connected = page.getByTestId('oauth-connect-success-banner');
		await connected.waitFor({ timeout: 30_000 });
		assert.match(await connected.innerText(), /Account connected/);
		await page.screenshot({ path: join(SHOTS, 'credential-connected.png') });
		const stored = (
			(await n8n.rest('GET', '/rest/credentials')) as Array<{ name: string; type: string }>
		).filter((c) => c.name === CREDENTIAL_NAME);
		assert.deepEqual(
			stored.map((c) => c.type),
			['m365MailOAuth2Api'],
		);
	});

	it('opens a workflow with the trigger on that credential; Fetch Test Event shows the newest message', async () => {
		const credentials = (await n8n.rest('GET', '/rest/credentials')) as Array<{
			id: string;
			name: string;
		}>;
		const credential = credentials.find((c) => c.name === CREDENTIAL_NAME);
		assert.ok(credential, 'the credential made in the editor');
		const folder = `Inbox/Browser-${Date.now()}`;
		await graphFolder('alice@example.test', folder);
		await graphDeliver(
			'alice@example.test',
			{ subject: 'An older message', from: 'Lee <lee@contoso.test>' },
			folder,
			'2026-11-20T09:00:00Z',
		);
		await graphDeliver(
			'alice@example.test',
			{
				subject: 'Quote request from Contoso',
				from: 'Megan Bowen <megan@contoso.test>',
				text: 'Could you send us a quote for 40 seats?',
			},
			folder,
		);
		const workflow = await n8n.api('POST', '/workflows', {
			name: 'New mail in Inbox/Browser',
			nodes: [
				triggerWorkflowNode('New Mail', folder, {
					m365MailOAuth2Api: { id: credential.id, name: credential.name },
				}),
			],
			connections: {},
			settings: { executionOrder: 'v1' },
		});
		await page.goto(`${n8n.url}/workflow/${workflow.id as string}`);
		await page.getByTestId('canvas-node').first().dblclick();
		await page.getByTestId('node-execute-button').click();
		const output = page.getByTestId('output-panel');
		await output.getByText('Quote request from Contoso').first().waitFor({ timeout: 60_000 });
		const text = await output.innerText();
		assert.match(text, /megan@contoso\.test/);
		assert.doesNotMatch(text, /An older message/, 'only the newest message');
		await page.screenshot({ path: join(SHOTS, 'fetch-test-event.png') });
	});
});

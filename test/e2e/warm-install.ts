/**
 * Installs the packed package (M365_E2E_TARBALL) into n8n's community-package layout once, so that
 * test/run.mjs's lanes copy that install (test/e2e/n8n.ts keeps it by tarball hash) instead of running
 * npm install for it at the same time. Does nothing when n8n is not set up: the e2e suites say so.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { e2eInstalled, installPackage, ROOT } from './n8n';

if (e2eInstalled()) {
	mkdirSync(join(ROOT, '.tmp'), { recursive: true });
	const folder = mkdtempSync(join(ROOT, '.tmp/warm-install-'));
	try {
		installPackage(folder);
	} finally {
		rmSync(folder, { recursive: true, force: true });
	}
}

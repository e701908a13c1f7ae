#!/usr/bin/env node
// Checks what `npm pack` would publish: every credential and node listed in package.json's n8n
// section, their codex files and icons, and no tests. Run after `npm run build`.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const listing = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
const files = new Set(listing[0].files.map((f) => f.path));
const problems = [];
const required = [...pkg.n8n.credentials, ...pkg.n8n.nodes];
for (const node of pkg.n8n.nodes) required.push(node.replace(/\.js$/, '.json'));
// n8n lazy-loads a package that ships these (written by n8n-core's generate-metadata in the build).
required.push('dist/known/nodes.json', 'dist/known/credentials.json', 'dist/types/nodes.json', 'dist/types/credentials.json');
for (const path of required) if (!files.has(path)) problems.push(`missing ${path}`);
for (const path of files) {
	if (/(^|\/)test\//.test(path) || /\.test\.(js|ts)$/.test(path)) problems.push(`test file packed: ${path}`);
	if (path.endsWith('.ts') && !path.endsWith('.d.ts')) problems.push(`TypeScript source packed: ${path}`);
}
for (const source of ['credentials/M365MailOAuth2Api.credentials.ts', 'credentials/M365MailAppOnlyApi.credentials.ts', 'nodes/M365Mail/M365Mail.node.ts']) {
	for (const match of readFileSync(source, 'utf8').matchAll(/file:((?:\.\.\/)+)icons\/([\w.-]+\.svg)/g)) {
		if (!files.has(`dist/icons/${match[2]}`)) problems.push(`icon ${match[2]} of ${source} not packed`);
	}
}
if (problems.length) {
	console.error(`package check failed:\n  ${problems.join('\n  ')}`);
	process.exit(1);
}
console.log(`package check: ${files.size} files, all ${required.length} n8n entries present, no tests`);

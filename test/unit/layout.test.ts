/**
 * The layout the README's "For contributors" describes: imports go one way (node files -> actions /
 * trigger / methods -> shared -> transport interface -> implementations), and files stay small.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';

const root = join(__dirname, '../../nodes/M365Mail');

function files(dir: string): string[] {
	return readdirSync(dir).flatMap((name) => {
		const path = join(dir, name);
		if (statSync(path).isDirectory()) return files(path);
		return path.endsWith('.ts') ? [path] : [];
	});
}

/** Every module a file imports (static, dynamic, type-only), as paths relative to nodes/M365Mail. */
function importsOf(file: string): string[] {
	const text = readFileSync(file, 'utf8');
	const specifiers = [...text.matchAll(/(?:from|import\(|import)\s*'(\.[^']+)'/g)].map((m) => m[1]);
	return specifiers.map((s) => relative(root, join(file, '..', s)));
}

const all = files(root).map((file) => ({ file: relative(root, file), imports: importsOf(file) }));
const under = (path: string, ...folders: string[]) =>
	folders.some((f) => path === f || path.startsWith(`${f}/`));

describe('layout', () => {
	it('finds the files it checks', () => {
		assert.ok(all.length > 50, `only ${all.length} files`);
		assert.ok(all.some((f) => f.file === 'transport/mailbox.ts'));
	});

	it('operations, the trigger, shared pieces and methods reach a transport only through Mailbox', () => {
		const wrong = all
			.filter((f) => under(f.file, 'actions', 'trigger', 'shared', 'methods'))
			.flatMap((f) =>
				f.imports
					.filter((i) => under(i, 'transport/imap', 'transport/graph', 'transport/smtp'))
					.map((i) => `${f.file} -> ${i}`),
			);
		assert.deepEqual(wrong, []);
	});

	it('nothing under transport/ imports the nodes, actions, trigger, shared or methods', () => {
		const wrong = all
			.filter((f) => under(f.file, 'transport'))
			.flatMap((f) =>
				f.imports.filter((i) => !under(i, 'transport')).map((i) => `${f.file} -> ${i}`),
			);
		assert.deepEqual(wrong, []);
	});

	it('shared/ imports no operation and no trigger code; actions/ and trigger/ not each other', () => {
		const wrong = all.flatMap((f) =>
			f.imports
				.filter(
					(i) =>
						(under(f.file, 'shared') && under(i, 'actions', 'trigger', 'methods')) ||
						(under(f.file, 'actions') && under(i, 'trigger')) ||
						(under(f.file, 'trigger') && under(i, 'actions')),
				)
				.map((i) => `${f.file} -> ${i}`),
		);
		assert.deepEqual(wrong, []);
	});

	it('no operation file names a transport: the router and operations choose nothing by it', () => {
		const wrong = all
			.filter((f) => under(f.file, 'actions'))
			.filter((f) =>
				/transport\s*===|=== '(graph|imap)'|protocol\s*===/.test(
					readFileSync(join(root, f.file), 'utf8'),
				),
			)
			.map((f) => f.file);
		assert.deepEqual(wrong, []);
	});

	it('no file is over 400 lines', () => {
		const long = all
			.map((f) => ({
				file: f.file,
				lines: readFileSync(join(root, f.file), 'utf8').split('\n').length,
			}))
			.filter((f) => f.lines > 401)
			.map((f) => `${f.file}: ${f.lines}`);
		assert.deepEqual(long, []);
	});
});

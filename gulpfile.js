// Copies icons and codex files next to the compiled nodes and credentials: n8n reads them from dist/.
const path = require('path');
const { task, src, dest, parallel } = require('gulp');

task('build:icons', parallel(copyIcons, copyCredentialIcons));

function copyIcons() {
	return src(['nodes/**/*.{png,svg}', 'nodes/**/*.node.json'], { encoding: false }).pipe(
		dest(path.resolve('dist', 'nodes')),
	);
}

function copyCredentialIcons() {
	return src(['icons/**/*.{png,svg}'], { encoding: false }).pipe(dest(path.resolve('dist', 'icons')));
}

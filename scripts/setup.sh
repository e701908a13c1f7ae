#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine: Dovecot (IMAP with XOAUTH2
# and Lua), curl, openssl, Chromium (the editor tests), PostgreSQL and Redis (n8n's queue mode) from
# Debian's packages, then the npm dependencies from the lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in dovecot-core dovecot-imapd dovecot-auth-lua curl openssl ca-certificates chromium fonts-liberation postgresql redis-server; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
# Debian's packages install in the background while npm installs (neither needs the other): on a
# fresh machine that is minutes of a CI run.
apt_pid=""
if [ ${#need[@]} -gt 0 ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	echo "Installing Debian packages: ${need[*]}"
	(
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
		$SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	) &
	apt_pid=$!
fi

# Real n8n (pinned) on Node 24 for the end-to-end tests and the demo, in the background too: its own
# folders, its own lockfiles (npm's cache takes concurrent installs).
bash scripts/e2e-setup.sh &
e2e_pid=$!

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	# --ignore-scripts: a lint plugin's preinstall insists on pnpm, and nothing here needs an install script.
	# npm ci refuses a lockfile whose optional platform bindings this registry mirror does not list;
	# npm install then installs the same locked versions without rewriting the lockfile.
	npm ci --ignore-scripts --no-audit --no-fund 2>/dev/null ||
		npm install --ignore-scripts --no-audit --no-fund --no-save
fi

wait "$e2e_pid" || { echo "Installing n8n for the end-to-end tests failed" >&2; exit 1; }

if [ -n "$apt_pid" ]; then
	wait "$apt_pid" || { echo "Installing Debian packages failed" >&2; exit 1; }
	echo "Debian packages installed"
fi
# The packages' own system services are not used: the tests start their own Dovecot, PostgreSQL and
# Redis on other ports, each in a temporary directory.
if command -v systemctl >/dev/null 2>&1; then
	for service in dovecot postgresql redis-server; do
		if systemctl is-active --quiet "$service" 2>/dev/null; then systemctl stop "$service" || true; fi
	done
fi
echo "setup: done"

#!/usr/bin/env bash
# Install the official Node.js clients that tests run against hybridembed's
# emulator and server (scripts/clients/package.json pins them; npm checks
# each package against the registry's sha512 integrity).
#
# Usage: scripts/install-test-clients.sh
#
# Installs into ${HYBRIDEMBED_CACHE:-~/.cache/hybridembed}/test-clients/HASH
# (HASH: package.json's) and prints that directory last. Exits 1 with a message when node or npm is
# missing, or when the npm registry cannot be reached.
set -euo pipefail
say() { echo "install-test-clients: $*" >&2; }

for tool in node npm; do
	command -v "$tool" >/dev/null || {
		say "needs $tool on PATH (Node.js 18 or later)"
		exit 1
	}
done
src=$(cd "$(dirname "$0")/clients" && pwd)
cache_root=${HYBRIDEMBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hybridembed}
# One folder per package.json, so that checkouts pinning other versions
# (another branch, an older clone) never reinstall over each other's.
dest=$cache_root/test-clients/$(sha256sum "$src/package.json" | cut -c1-16)
mkdir -p "$dest"
if cmp -s "$src/package.json" "$dest/package.json" && [ -f "$dest/.installed" ]; then
	echo "$dest"
	exit 0
fi
cp "$src/package.json" "$dest/package.json"
rm -f "$dest/.installed"
if ! (cd "$dest" && npm install --no-audit --no-fund --silent >&2); then
	say "npm install failed (is the npm registry reachable?)"
	exit 1
fi
touch "$dest/.installed"
say "installed $(cd "$dest" && node -e 'const p=require("./package.json");console.log(Object.entries(p.dependencies).map(([k,v])=>k+"@"+v).join(" "))')"
echo "$dest"

#!/usr/bin/env bash
# Install the Chromium that the search page's browser tests drive headless
# (internal/webui; make test runs this first).
#
# Usage: scripts/install-chromium.sh
#
# Where the browser comes from, in order:
#   1. $HYBRIDEMBED_CHROMIUM, if set and the file exists (nothing is installed);
#   2. chromium, chromium-browser or google-chrome on PATH;
#   3. Debian/Ubuntu's chromium package, `apt-get install -y chromium`, as root
#      (apt checks the package against its signed index).
# Otherwise it says how to get one and exits 1; the browser tests then skip
# (and fail under HYBRIDEMBED_TEST_STRICT=1, as in CI). The last line
# printed is the browser's path.
set -euo pipefail
say() { echo "install-chromium: $*" >&2; }
how="install Chromium or Chrome (Debian/Ubuntu: apt-get install chromium; Fedora: dnf install chromium; macOS: brew install --cask chromium) or set HYBRIDEMBED_CHROMIUM to its executable"

case "${1:-}" in
-h | --help)
	sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*)
	say "unknown argument $1"
	exit 2
	;;
esac

if [ -n "${HYBRIDEMBED_CHROMIUM:-}" ]; then
	if [ -x "$HYBRIDEMBED_CHROMIUM" ]; then
		echo "$HYBRIDEMBED_CHROMIUM"
		exit 0
	fi
	say "\$HYBRIDEMBED_CHROMIUM=$HYBRIDEMBED_CHROMIUM is not an executable"
	exit 1
fi
found() {
	for name in chromium chromium-browser google-chrome google-chrome-stable; do
		if command -v "$name" >/dev/null; then
			command -v "$name"
			return 0
		fi
	done
	return 1
}
if path=$(found); then
	echo "$path"
	exit 0
fi
if ! command -v apt-get >/dev/null; then
	say "no apt here: $how"
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	say "apt-get install chromium needs root: $how"
	exit 1
fi
install() { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; }
if ! install; then
	say "fetching apt's package lists"
	apt-get update >/dev/null 2>&1 || true
	if ! install; then
		say "apt-get install chromium failed (no package lists, or the archive is unreachable): $how"
		exit 1
	fi
fi
if ! path=$(found); then
	say "apt installed chromium but it is not on PATH: $how"
	exit 1
fi
say "installed $("$path" --version 2>/dev/null | head -1)"
echo "$path"

#!/usr/bin/env bash
# Install libjpeg-turbo's TurboJPEG library, which hybridembed loads at run
# time to decode JPEGs exactly as Pillow does (it is the library inside
# Pillow). Without it hybridembed uses Go's decoder, up to a few levels off.
#
# Usage: scripts/install-libjpeg-turbo.sh [--force]
#
# Where the library comes from, in order:
#   1. $TURBOJPEG_LIB, if set and the file exists (nothing is installed);
#   2. the hybridembed cache, if a previous run installed it;
#   3. the system loader path (a distribution's libturbojpeg0 package);
#   4. the Debian/Ubuntu archive: `apt-get download libturbojpeg0`, checked
#      against the SHA256 in apt's signed package index, unpacked into the
#      cache (no root needed once the package lists exist).
# Otherwise it says how to get it and exits 1.
#
# The cache is ${HYBRIDEMBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hybridembed}/libjpeg-turbo/,
# which is also where the Go code looks (local/imageprep). The last line
# printed is the path of the library.
set -euo pipefail

LIB=libturbojpeg.so.0
PKG=libturbojpeg0
force=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	-h | --help)
		sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "install-libjpeg-turbo: unknown argument $arg" >&2
		exit 2
		;;
	esac
done
say() { echo "install-libjpeg-turbo: $*" >&2; }
how="install your system's libjpeg-turbo TurboJPEG package (Debian/Ubuntu: libturbojpeg0; Fedora: turbojpeg; macOS: brew install jpeg-turbo) or a release from https://github.com/libjpeg-turbo/libjpeg-turbo/releases, and set TURBOJPEG_LIB to its libturbojpeg shared library; until then hybridembed decodes JPEGs with Go's decoder"

if [ -n "${TURBOJPEG_LIB:-}" ]; then
	if [ -f "$TURBOJPEG_LIB" ]; then
		say "using \$TURBOJPEG_LIB; nothing to install"
		echo "$TURBOJPEG_LIB"
		exit 0
	fi
	say "\$TURBOJPEG_LIB=$TURBOJPEG_LIB does not exist"
	exit 1
fi

cache_root=${HYBRIDEMBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hybridembed}
dest=$cache_root/libjpeg-turbo
if [ "$force" = 0 ] && [ -f "$dest/$LIB" ] && [ -f "$dest/SOURCE" ]; then
	say "already installed: $(cat "$dest/SOURCE")"
	echo "$dest/$LIB"
	exit 0
fi

if [ "$force" = 0 ] && command -v ldconfig >/dev/null; then
	# awk reads to the end: exiting early would SIGPIPE ldconfig, which
	# pipefail turns into a failure.
	sys=$(ldconfig -p 2>/dev/null | awk -v lib="$LIB" '$1 == lib && /x86-64|aarch64|64bit/ && !found {print $NF; found = 1}') || sys=
	if [ -n "$sys" ] && [ -f "$sys" ]; then
		say "found on the system loader path: $sys; nothing to install"
		echo "$sys"
		exit 0
	fi
fi

if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
	say "no apt here to fetch $PKG: $how"
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp" # apt's download user must be able to write here
download() { (cd "$tmp" && apt-get download "$PKG" >/dev/null 2>&1); }
if ! download; then
	if [ "$(id -u)" = 0 ]; then
		say "fetching apt's package lists"
		apt-get update >/dev/null 2>&1 || true
	fi
	if ! download; then
		say "apt-get download $PKG failed (no package lists, or the archive is unreachable): $how"
		exit 1
	fi
fi
deb=$(ls "$tmp"/*.deb)
want=$(apt-cache show "$PKG" 2>/dev/null | awk -v v="$(dpkg-deb -f "$deb" Version)" '$1 == "Version:" {ok = ($2 == v)} ok && $1 == "SHA256:" && !found {print $2; found = 1}') || want=
got=$(sha256sum "$deb" | cut -d' ' -f1)
if [ -z "$want" ] || [ "$want" != "$got" ]; then
	say "$(basename "$deb"): sha256 $got does not match apt's signed index (${want:-none}); not installing"
	exit 1
fi
mkdir -p "$tmp/x" "$dest"
dpkg-deb -x "$deb" "$tmp/x"
so=$(find "$tmp/x" -name 'libturbojpeg.so.0*' -type f | head -1)
if [ -z "$so" ]; then
	say "$(basename "$deb") holds no libturbojpeg.so.0"
	exit 1
fi
cp "$so" "$dest/$LIB.tmp"
mv "$dest/$LIB.tmp" "$dest/$LIB"
echo "$PKG $(dpkg-deb -f "$deb" Version) from the Debian archive (sha256 $got, checked against apt's signed index)" >"$dest/SOURCE"
say "installed $(cat "$dest/SOURCE")"
echo "$dest/$LIB"

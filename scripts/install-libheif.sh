#!/usr/bin/env bash
# Install libheif, which hybridembed loads at run time to decode HEIC/HEIF
# photos (what phones write) and AVIF exactly as Pillow-heif does (it is the
# library inside Pillow-heif). Without it those files are reported as
# unsupported and skipped.
#
# Usage: scripts/install-libheif.sh [--force]
#
# Where the library comes from, in order:
#   1. $LIBHEIF_LIB, if set and the file exists (nothing is installed);
#   2. the hybridembed cache, if a previous run installed it;
#   3. the system loader path (a distribution's libheif1 package), when it
#      can decode HEVC: built in (libheif up to 1.16) or through the
#      libde265 plugin in libheif's plugin folder (1.17 and later);
#   4. the Debian/Ubuntu archive: `apt-get download` of libheif1, its HEVC
#      and AV1 decoder plugins where the release packages them apart, and
#      each library they need that this system lacks, every package checked
#      against the SHA256 in apt's signed package index, unpacked into the
#      cache (no root needed once the package lists exist).
# Otherwise it says how to get it and exits 1. --force skips 2 and 3.
#
# The cache is ${HYBRIDEMBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hybridembed}/libheif/:
# libheif.so.1, the libraries it needs in deps/ (loaded first, by path),
# decoder plugins in plugins/, and SOURCE. That is also where the Go code
# looks (local/libheif). The last line printed is the path of the library.
set -euo pipefail

LIB=libheif.so.1
PKG=libheif1
force=0
for arg in "$@"; do
	case "$arg" in
	--force) force=1 ;;
	-h | --help)
		sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "install-libheif: unknown argument $arg" >&2
		exit 2
		;;
	esac
done
say() { echo "install-libheif: $*" >&2; }
how="install your system's libheif (Debian/Ubuntu: libheif1, and from libheif 1.17 libheif-plugin-libde265; Fedora: libheif; macOS: brew install libheif) and set LIBHEIF_LIB to its shared library if it is not on the loader path; until then HEIC, HEIF and AVIF files are reported as unsupported"

if [ -n "${LIBHEIF_LIB:-}" ]; then
	if [ -f "$LIBHEIF_LIB" ]; then
		say "using \$LIBHEIF_LIB; nothing to install"
		echo "$LIBHEIF_LIB"
		exit 0
	fi
	say "\$LIBHEIF_LIB=$LIBHEIF_LIB does not exist"
	exit 1
fi

cache_root=${HYBRIDEMBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hybridembed}
dest=$cache_root/libheif
if [ "$force" = 0 ] && [ -f "$dest/$LIB" ] && [ -f "$dest/SOURCE" ]; then
	say "already installed: $(head -1 "$dest/SOURCE")"
	echo "$dest/$LIB"
	exit 0
fi

# decodes_hevc LIB: the library has an HEVC decoder built in (it links
# libde265), or a libde265 plugin sits in its plugin folder.
decodes_hevc() {
	local lib=$1 dir
	if command -v ldd >/dev/null && ldd "$lib" 2>/dev/null | grep -q 'libde265'; then
		return 0
	fi
	for dir in "$(dirname "$(readlink -f "$lib")")/libheif/plugins" ${LIBHEIF_PLUGIN_PATH:-}; do
		if compgen -G "$dir/*de265*" >/dev/null; then
			return 0
		fi
	done
	return 1
}

if [ "$force" = 0 ] && command -v ldconfig >/dev/null; then
	# awk reads to the end: exiting early would SIGPIPE ldconfig, which
	# pipefail turns into a failure.
	sys=$(ldconfig -p 2>/dev/null | awk -v lib="$LIB" '$1 == lib && /x86-64|aarch64|64bit/ && !found {print $NF; found = 1}') || sys=
	if [ -n "$sys" ] && [ -f "$sys" ]; then
		if decodes_hevc "$sys"; then
			say "found on the system loader path: $sys; nothing to install"
			echo "$sys"
			exit 0
		fi
		say "$sys is on the system loader path but has no HEVC decoder (its libde265 plugin is not installed); installing a complete copy into the cache"
	fi
fi

if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
	say "no apt here to fetch $PKG: $how"
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp" # apt's download user must be able to write here

known() { apt-cache show "$1" >/dev/null 2>&1; }
if ! known "$PKG" && [ "$(id -u)" = 0 ]; then
	say "fetching apt's package lists"
	apt-get update >/dev/null 2>&1 || true
fi
if ! known "$PKG"; then
	say "apt knows no $PKG (no package lists, or not in this release): $how"
	exit 1
fi
# The decoders: built into libheif1 up to 1.16, plugins from 1.17.
pkgs=("$PKG")
for p in libheif-plugin-libde265 libheif-plugin-dav1d; do
	if known "$p"; then pkgs+=("$p"); fi
done
# Every library these need that is not installed here, all the way down.
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
deps=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
	"${pkgs[@]}" 2>/dev/null | awk '/^[a-z0-9]/ {print $1}' | sort -u) || deps=
for d in $deps; do
	case " ${pkgs[*]} " in *" $d "*) continue ;; esac
	if ! installed "$d" && known "$d"; then pkgs+=("$d"); fi
done

(cd "$tmp" && apt-get download "${pkgs[@]}" >/dev/null 2>&1) || {
	say "apt-get download ${pkgs[*]} failed (the archive is unreachable?): $how"
	exit 1
}
sums=""
mkdir -p "$tmp/x"
for deb in "$tmp"/*.deb; do
	name=$(dpkg-deb -f "$deb" Package)
	version=$(dpkg-deb -f "$deb" Version)
	want=$(apt-cache show "$name" 2>/dev/null | awk -v v="$version" '$1 == "Version:" {ok = ($2 == v)} ok && $1 == "SHA256:" && !found {print $2; found = 1}') || want=
	got=$(sha256sum "$deb" | cut -d' ' -f1)
	if [ -z "$want" ] || [ "$want" != "$got" ]; then
		say "$(basename "$deb"): sha256 $got does not match apt's signed index (${want:-none}); not installing"
		exit 1
	fi
	sums="$sums$name $version (sha256 $got)"$'\n'
	dpkg-deb -x "$deb" "$tmp/x/$name"
done

# Assemble beside the final folder, then swap it in: a run killed midway
# leaves the old install (or none), never half of one.
new=$dest.new.$$
rm -rf "$new"
mkdir -p "$new/deps"
so=$(find "$tmp/x/$PKG" -name 'libheif.so.1*' -type f | head -1)
if [ -z "$so" ]; then
	say "$PKG holds no $LIB"
	exit 1
fi
cp "$so" "$new/$LIB"
for d in "$tmp"/x/*; do
	[ "$(basename "$d")" = "$PKG" ] && continue
	find "$d" -path '*/libheif/plugins/*.so' -type f -exec sh -c 'mkdir -p "$1/plugins" && cp "$2" "$1/plugins/"' _ "$new" {} \;
	find "$d" -name '*.so.*' -type f ! -path '*/libheif/plugins/*' -exec cp {} "$new/deps/" \;
done
{
	echo "libheif from the Debian archive, every package checked against apt's signed index:"
	printf '%s' "$sums"
} >"$new/SOURCE"
rm -rf "$dest.old"
if [ -e "$dest" ]; then mv "$dest" "$dest.old"; fi
mv "$new" "$dest"
rm -rf "$dest.old"
say "installed $(sed -n 2p "$dest/SOURCE")$([ "${#pkgs[@]}" -gt 1 ] && echo " and ${#pkgs[@]} packages in all")"
echo "$dest/$LIB"

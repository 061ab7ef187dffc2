#!/usr/bin/env bash
# Install the ONNX Runtime shared library that hybridembed loads at run time.
#
# Usage: scripts/install-onnxruntime.sh [--gpu] [--force] [--platform OS-ARCH]
#
# Platforms (Go's names): linux-amd64, linux-arm64, darwin-arm64,
# darwin-amd64 (official archive only), windows-amd64 (under Git Bash or
# MSYS2, which have bash, curl and tar). The default is this machine's;
# --platform installs another's (e.g. linux-arm64 for tests under qemu).
#
# Where the library comes from, in order:
#   1. $ONNXRUNTIME_LIB, if set and the file exists (nothing is installed);
#   2. the hybridembed cache, if a previous run installed the pinned version;
#   3. the official Microsoft release tarball from GitHub (CPU, or the CUDA
#      build with --gpu), verified against the sha256 digest GitHub publishes
#      for the release asset;
#   4. the npm registry: onnxruntime-node (the official CPU build) or, for
#      --gpu, the com.github.asus4.onnxruntime packages (a CUDA build of
#      ORT 1.29), verified against the registry's sha512 integrity.
#
# The cache is ${HYBRIDEMBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hybridembed}/onnxruntime/OS-ARCH/{cpu,gpu}/,
# which is also where the Go code looks (local/ort). The last line printed is
# the path of the library.
set -euo pipefail

ORT_VERSION=1.30.0
NPM_CPU_PKG=onnxruntime-node
NPM_CPU_VERSION=1.30.0
NPM_GPU_CORE_PKG=com.github.asus4.onnxruntime
NPM_GPU_PROVIDER_PKG=com.github.asus4.onnxruntime.linux-x64-gpu
NPM_GPU_VERSION=0.4.9 # ships ONNX Runtime 1.29 with the CUDA provider
NPM_REGISTRY=${NPM_REGISTRY:-https://registry.npmjs.org}

flavor=cpu
force=0
platform=
while [ $# -gt 0 ]; do
	case "$1" in
	--gpu) flavor=gpu ;;
	--force) force=1 ;;
	--platform)
		platform=${2:-}
		shift
		;;
	--platform=*) platform=${1#--platform=} ;;
	-h | --help)
		sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "install-onnxruntime: unknown argument $1 (want --gpu, --force or --platform OS-ARCH)" >&2
		exit 2
		;;
	esac
	shift
done

say() { echo "install-onnxruntime: $*" >&2; }

if [ -z "$platform" ]; then
	case "$(uname -s)" in
	Linux) os=linux ;;
	Darwin) os=darwin ;;
	MINGW* | MSYS* | CYGWIN*) os=windows ;;
	*) os=unknown ;;
	esac
	case "$(uname -m)" in
	x86_64 | amd64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) arch=unknown ;;
	esac
	platform=$os-$arch
fi
# Per platform: the official archive's name and extension, the library's
# path inside it, the onnxruntime-node folder, and the file name the Go
# loader looks for.
case "$platform" in
linux-amd64) gh=linux-x64 ext=tgz npm=linux/x64 libname=libonnxruntime.so ghlib='lib/libonnxruntime.so*' ;;
linux-arm64) gh=linux-aarch64 ext=tgz npm=linux/arm64 libname=libonnxruntime.so ghlib='lib/libonnxruntime.so*' ;;
darwin-arm64) gh=osx-arm64 ext=tgz npm=darwin/arm64 libname=libonnxruntime.dylib ghlib='lib/libonnxruntime*.dylib' ;;
darwin-amd64) gh=osx-x86_64 ext=tgz npm= libname=libonnxruntime.dylib ghlib='lib/libonnxruntime*.dylib' ;;
windows-amd64) gh=win-x64 ext=zip npm=win32/x64 libname=onnxruntime.dll ghlib='lib/onnxruntime.dll' ;;
*)
	say "no ONNX Runtime build is known for $platform; download ONNX Runtime $ORT_VERSION for it from https://github.com/microsoft/onnxruntime/releases and set ONNXRUNTIME_LIB to its shared library"
	exit 1
	;;
esac
if [ "$flavor" = gpu ] && [ "$platform" != linux-amd64 ]; then
	say "the CUDA build is automated for linux-amd64 only; for $platform set ONNXRUNTIME_LIB to a CUDA-enabled ONNX Runtime"
	exit 1
fi

if [ -n "${ONNXRUNTIME_LIB:-}" ]; then
	if [ -f "$ONNXRUNTIME_LIB" ]; then
		say "using \$ONNXRUNTIME_LIB; nothing to install"
		echo "$ONNXRUNTIME_LIB"
		exit 0
	fi
	say "\$ONNXRUNTIME_LIB=$ONNXRUNTIME_LIB does not exist; installing into the cache instead"
fi

cache_root=${HYBRIDEMBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hybridembed}
dest=$cache_root/onnxruntime/$platform/$flavor
lib=$dest/lib/$libname

if [ "$force" = 0 ] && [ -f "$lib" ] && [ -f "$dest/SOURCE" ]; then
	say "already installed: $(cat "$dest/SOURCE")"
	echo "$lib"
	exit 0
fi

for tool in curl tar sha256sum sha512sum base64; do
	command -v "$tool" >/dev/null || {
		say "needs $tool on PATH"
		exit 1
	}
done

mkdir -p "$cache_root/onnxruntime"
work=$(mktemp -d "$cache_root/onnxruntime/.install-XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/stage
mkdir -p "$stage/lib"

# fetch URL FILE: download with retries; fails fast when the host is unreachable.
fetch() {
	curl -fsSL --retry 2 --connect-timeout 10 -o "$2" "$1" 2>"$work/curl.err" || {
		say "download failed: $(tail -1 "$work/curl.err")"
		return 1
	}
}

# verify_sha512_integrity FILE "sha512-BASE64"
verify_sha512_integrity() {
	local want got
	want=$(printf '%s' "${2#sha512-}" | base64 -d | od -An -vtx1 | tr -d ' \n')
	got=$(sha512sum "$1" | cut -d' ' -f1)
	if [ "$want" != "$got" ]; then
		say "checksum mismatch for $(basename "$1"): registry says sha512 $want, got $got"
		return 1
	fi
}

# npm_tarball PKG VERSION OUT: download a package tarball and check it against
# the registry's integrity field.
npm_tarball() {
	local meta integrity tarball
	meta=$(curl -fsSL --connect-timeout 10 "$NPM_REGISTRY/$1/$2") || return 1
	integrity=$(printf '%s' "$meta" | grep -o '"integrity": *"sha512-[^"]*"' | head -1 | grep -o 'sha512-[^"]*')
	tarball=$(printf '%s' "$meta" | grep -o '"tarball": *"[^"]*"' | head -1 | grep -o 'https\?://[^"]*')
	if [ -z "$integrity" ] || [ -z "$tarball" ]; then
		say "npm registry metadata for $1@$2 has no tarball or integrity"
		return 1
	fi
	say "downloading $tarball"
	fetch "$tarball" "$3" || return 1
	verify_sha512_integrity "$3" "$integrity"
}

from_github() {
	local name url api digest
	if [ "$flavor" = gpu ]; then name=onnxruntime-$gh-gpu-$ORT_VERSION; else name=onnxruntime-$gh-$ORT_VERSION; fi
	url=https://github.com/microsoft/onnxruntime/releases/download/v$ORT_VERSION/$name.$ext
	api=https://api.github.com/repos/microsoft/onnxruntime/releases/tags/v$ORT_VERSION
	say "trying the official release $url"
	# GitHub publishes a sha256 digest per release asset in the releases API.
	digest=$(curl -fsSL --connect-timeout 10 "$api" 2>/dev/null |
		tr ',' '\n' | grep -A30 "\"name\": *\"$name.$ext\"" | grep -o '"digest": *"sha256:[0-9a-f]*"' | head -1 | grep -o '[0-9a-f]\{64\}') || true
	fetch "$url" "$work/ort.$ext" || return 1
	if [ -n "$digest" ]; then
		echo "$digest  $work/ort.$ext" | sha256sum -c --status || {
			say "checksum mismatch for $name.$ext (GitHub says sha256 $digest)"
			return 1
		}
	else
		say "warning: GitHub published no digest for $name.$ext; installed unverified"
	fi
	if [ "$ext" = zip ]; then
		(cd "$work" && unzip -q ort.zip) || return 1
	else
		tar xzf "$work/ort.tgz" -C "$work"
	fi
	# shellcheck disable=SC2086 # ghlib is a glob
	cp -P "$work/$name"/$ghlib "$stage/lib/"
	echo "ONNX Runtime $ORT_VERSION ($flavor), official release $url" >"$stage/SOURCE"
}

from_npm() {
	if [ "$flavor" = cpu ]; then
		if [ -z "$npm" ]; then
			say "$NPM_CPU_PKG@$NPM_CPU_VERSION has no build for $platform"
			return 1
		fi
		npm_tarball "$NPM_CPU_PKG" "$NPM_CPU_VERSION" "$work/npm.tgz" || return 1
		tar xzf "$work/npm.tgz" -C "$work" "package/bin/napi-v6/$npm"
		case "$platform" in
		windows-*) cp "$work/package/bin/napi-v6/$npm/onnxruntime.dll" "$stage/lib/" ;;
		darwin-*) cp "$work/package/bin/napi-v6/$npm"/libonnxruntime.*.dylib "$stage/lib/" ;;
		*) cp "$work/package/bin/napi-v6/$npm/libonnxruntime.so.1" "$stage/lib/" ;;
		esac
		echo "ONNX Runtime $NPM_CPU_VERSION (cpu, $platform), official build from npm $NPM_CPU_PKG@$NPM_CPU_VERSION" >"$stage/SOURCE"
	else
		npm_tarball "$NPM_GPU_CORE_PKG" "$NPM_GPU_VERSION" "$work/core.tgz" || return 1
		npm_tarball "$NPM_GPU_PROVIDER_PKG" "$NPM_GPU_VERSION" "$work/gpu.tgz" || return 1
		tar xzf "$work/core.tgz" -C "$work" package/Plugins/Linux/x64/libonnxruntime.so
		tar xzf "$work/gpu.tgz" -C "$work" package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so package/Plugins/Linux/x64/libonnxruntime_providers_shared.so
		cp "$work"/package/Plugins/Linux/x64/*.so "$stage/lib/"
		echo "ONNX Runtime 1.29 (gpu, CUDA provider), npm $NPM_GPU_CORE_PKG@$NPM_GPU_VERSION + $NPM_GPU_PROVIDER_PKG@$NPM_GPU_VERSION" >"$stage/SOURCE"
	fi
}

if ! from_github; then
	say "official release unavailable; falling back to the npm registry"
	rm -rf "${stage:?}"/lib/* "$stage/SOURCE"
	if ! from_npm; then
		say "could not download ONNX Runtime from GitHub or $NPM_REGISTRY."
		say "Download it by hand and set ONNXRUNTIME_LIB=/path/to/$libname"
		exit 1
	fi
fi

# A stable name for the loader, whatever versioned name the source used (a
# copy on Windows, where links need privileges).
(
	cd "$stage/lib"
	if [ ! -e "$libname" ]; then
		case "$libname" in
		*.so) real=$(ls libonnxruntime.so.* | head -1) ;;
		*.dylib) real=$(ls libonnxruntime.*.dylib | head -1) ;;
		esac
		ln -s "$real" "$libname"
	fi
)
chmod 0755 "$stage"/lib/*

# Swap in atomically so a concurrent reader never sees half a directory.
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.old"
[ -d "$dest" ] && mv "$dest" "$dest.old"
mv "$stage" "$dest"
rm -rf "$dest.old"

say "installed $(cat "$dest/SOURCE") into $dest"
echo "$lib"

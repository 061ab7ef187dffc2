#!/usr/bin/env bash
# Install the ONNX Runtime shared library that hybridembed loads at run time.
#
# Usage: scripts/install-onnxruntime.sh [--gpu] [--force]
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
# The cache is ${HYBRIDEMBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hybridembed}/onnxruntime/{cpu,gpu}/,
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
for arg in "$@"; do
	case "$arg" in
	--gpu) flavor=gpu ;;
	--force) force=1 ;;
	-h | --help)
		sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "install-onnxruntime: unknown argument $arg (want --gpu or --force)" >&2
		exit 2
		;;
	esac
done

say() { echo "install-onnxruntime: $*" >&2; }

case "$(uname -s)-$(uname -m)" in
Linux-x86_64) ;;
*)
	say "only linux/x86_64 is automated here; download ONNX Runtime $ORT_VERSION for your platform from https://github.com/microsoft/onnxruntime/releases and set ONNXRUNTIME_LIB to its libonnxruntime shared library"
	exit 1
	;;
esac

if [ -n "${ONNXRUNTIME_LIB:-}" ]; then
	if [ -f "$ONNXRUNTIME_LIB" ]; then
		say "using \$ONNXRUNTIME_LIB; nothing to install"
		echo "$ONNXRUNTIME_LIB"
		exit 0
	fi
	say "\$ONNXRUNTIME_LIB=$ONNXRUNTIME_LIB does not exist; installing into the cache instead"
fi

cache_root=${HYBRIDEMBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hybridembed}
dest=$cache_root/onnxruntime/$flavor
lib=$dest/lib/libonnxruntime.so

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
	if [ "$flavor" = gpu ]; then name=onnxruntime-linux-x64-gpu-$ORT_VERSION; else name=onnxruntime-linux-x64-$ORT_VERSION; fi
	url=https://github.com/microsoft/onnxruntime/releases/download/v$ORT_VERSION/$name.tgz
	api=https://api.github.com/repos/microsoft/onnxruntime/releases/tags/v$ORT_VERSION
	say "trying the official release $url"
	# GitHub publishes a sha256 digest per release asset in the releases API.
	digest=$(curl -fsSL --connect-timeout 10 "$api" 2>/dev/null |
		tr ',' '\n' | grep -A30 "\"name\": *\"$name.tgz\"" | grep -o '"digest": *"sha256:[0-9a-f]*"' | head -1 | grep -o '[0-9a-f]\{64\}') || true
	fetch "$url" "$work/ort.tgz" || return 1
	if [ -n "$digest" ]; then
		echo "$digest  $work/ort.tgz" | sha256sum -c --status || {
			say "checksum mismatch for $name.tgz (GitHub says sha256 $digest)"
			return 1
		}
	else
		say "warning: GitHub published no digest for $name.tgz; installed unverified"
	fi
	tar xzf "$work/ort.tgz" -C "$work"
	cp -P "$work/$name"/lib/libonnxruntime*.so* "$stage/lib/"
	echo "ONNX Runtime $ORT_VERSION ($flavor), official release $url" >"$stage/SOURCE"
}

from_npm() {
	if [ "$flavor" = cpu ]; then
		npm_tarball "$NPM_CPU_PKG" "$NPM_CPU_VERSION" "$work/npm.tgz" || return 1
		tar xzf "$work/npm.tgz" -C "$work" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
		cp "$work/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$stage/lib/"
		echo "ONNX Runtime $NPM_CPU_VERSION (cpu), official build from npm $NPM_CPU_PKG@$NPM_CPU_VERSION" >"$stage/SOURCE"
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
		say "Download it by hand and set ONNXRUNTIME_LIB=/path/to/libonnxruntime.so"
		exit 1
	fi
fi

# A stable name for the loader, whatever soname the source used.
(
	cd "$stage/lib"
	if [ ! -e libonnxruntime.so ]; then
		real=$(ls libonnxruntime.so.* | head -1)
		ln -s "$real" libonnxruntime.so
	fi
)
chmod 0755 "$stage"/lib/*.so*

# Swap in atomically so a concurrent reader never sees half a directory.
rm -rf "$dest.old"
[ -d "$dest" ] && mv "$dest" "$dest.old"
mv "$stage" "$dest"
rm -rf "$dest.old"

say "installed $(cat "$dest/SOURCE") into $dest"
echo "$lib"

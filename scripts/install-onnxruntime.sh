#!/usr/bin/env bash
# Install the ONNX Runtime shared library that hybridembed loads at run time.
#
# Usage: scripts/install-onnxruntime.sh [--gpu [--cuda 12|13]] [--from DIR] [--force] [--platform OS-ARCH]
#
# Platforms (Go's names): linux-amd64, linux-arm64, darwin-arm64,
# darwin-amd64 (official archive only), windows-amd64 (under Git Bash or
# MSYS2, which have bash, curl and tar). The default is this machine's;
# --platform installs another's (e.g. linux-arm64 for tests under qemu).
#
# Where the library comes from, in order:
#   1. $ONNXRUNTIME_LIB, if set and the file exists (nothing is installed;
#      not with --from);
#   2. the hybridembed cache, if a previous run installed the pinned version;
#   3. the official Microsoft release archive from GitHub (CPU, or with --gpu
#      the CUDA 13 build; --cuda 12 for the CUDA 12 one), verified against
#      its pinned sha256 (else the digest GitHub publishes for the asset);
#   4. the npm registry: onnxruntime-node (the official CPU build) or, for
#      --gpu, the com.github.asus4.onnxruntime packages (ORT 1.29 with the
#      CUDA 13 provider), verified against their pinned sha256 and the
#      registry's sha512 integrity.
#
# Air-gapped machines: --from DIR installs from files copied there by hand,
# with no network at all, each verified against its pinned sha256. DIR holds
# the official archive under its release name, else the npm tarballs as
# `npm pack` names them:
#   CPU:  onnxruntime-linux-x64-1.30.0.tgz (or the platform's), or
#         onnxruntime-node-1.30.0.tgz
#   GPU:  onnxruntime-linux-x64-gpu_cuda13-1.30.0.tgz (or _cuda12), or both
#         com.github.asus4.onnxruntime-0.4.9.tgz and
#         com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz
# or the libraries themselves, as this script installs them from the npm
# tarballs (each file checked against its own pinned sha256):
#   CPU:  libonnxruntime.so.1 (linux-amd64)
#   GPU:  libonnxruntime.so, libonnxruntime_providers_cuda.so and
#         libonnxruntime_providers_shared.so
# On a machine with a network: `npm pack onnxruntime-node@1.30.0` (CPU) or
# `npm pack com.github.asus4.onnxruntime@0.4.9
# com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9` (GPU) writes them.
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
ORT_RELEASE_URL=${ORT_RELEASE_URL:-https://github.com/microsoft/onnxruntime/releases/download}
ORT_RELEASE_API=${ORT_RELEASE_API:-https://api.github.com/repos/microsoft/onnxruntime/releases/tags}

# pinned_lib_sha256 FILE: the sha256 of a library file as the npm tarballs
# above hold it (onnxruntime-node 1.30.0's linux x64 runtime; the
# com.github.asus4 0.4.9 CUDA build), for --from a folder of the files.
pinned_lib_sha256() {
	case "$1" in
	cpu/libonnxruntime.so.1) echo ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23 ;;
	gpu/libonnxruntime.so) echo 5715f06d8992ca8eeeddcce43df3a7d38f97d537052126f558e912cb312460ca ;;
	gpu/libonnxruntime_providers_cuda.so) echo 56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037 ;;
	gpu/libonnxruntime_providers_shared.so) echo c6a12593396095f5670160e284c35d1700b7708cf3037b7042e2a5200ccae772 ;;
	esac
}

# pinned_sha256 FILE: the sha256 of a release archive or npm tarball by its
# file name. The npm ones were computed from `npm pack` (and match the
# registry's sha512 integrity); the official archives' are those GitHub
# publishes for the v1.30.0 assets.
pinned_sha256() {
	case "$1" in
	onnxruntime-linux-x64-1.30.0.tgz) echo a5ed5a3cac51fbb2e90da632ae43d19212faaa20e76484e62bcb7c23ddb3b3fd ;;
	onnxruntime-linux-aarch64-1.30.0.tgz) echo e16a27a8ed330bbc698df7330b0cf56e722f354e3bcc92118682c74ef3c3e3da ;;
	onnxruntime-osx-arm64-1.30.0.tgz) echo 6ebb5062a934537c352937821f9fe9718e7de1a2db1122a93dd363ffd53a7012 ;;
	onnxruntime-win-x64-1.30.0.zip) echo c6ba983baf5681af108599675d2a89c2d145512d02de28aed0bff177cd0ba949 ;;
	onnxruntime-linux-x64-gpu_cuda13-1.30.0.tgz) echo 382d79133112388cf94ce5855789b7c9bef12bef76a08b6b277e5a317213adcd ;;
	onnxruntime-linux-x64-gpu_cuda12-1.30.0.tgz) echo f9886932ee7bb0b4d3fcab736a392d4ff5efaa0672b47f19f0cec03437cf64f1 ;;
	onnxruntime-node-1.30.0.tgz) echo 6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75 ;;
	com.github.asus4.onnxruntime-0.4.9.tgz) echo e59788788818fdde1b2e522e766a21ba0f7d8391de55737abf81e32cc801785d ;;
	com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz) echo 2b459e0c17f340c92970c10ed86de4f37a3009f93c14053e6ad4334cbb6be412 ;;
	esac
}

flavor=cpu
force=0
platform=
from=
cuda=13
while [ $# -gt 0 ]; do
	case "$1" in
	--gpu) flavor=gpu ;;
	--force) force=1 ;;
	--from)
		from=${2:-}
		shift
		;;
	--from=*) from=${1#--from=} ;;
	--cuda)
		cuda=${2:-}
		shift
		;;
	--cuda=*) cuda=${1#--cuda=} ;;
	--platform)
		platform=${2:-}
		shift
		;;
	--platform=*) platform=${1#--platform=} ;;
	-h | --help)
		sed -n '2,46p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "install-onnxruntime: unknown argument $1 (want --gpu, --cuda 12|13, --from DIR, --force or --platform OS-ARCH)" >&2
		exit 2
		;;
	esac
	shift
done

say() { echo "install-onnxruntime: $*" >&2; }

case "$cuda" in
12 | 13) ;;
*)
	say "--cuda takes 12 or 13 (the CUDA major version of the official build), not '$cuda'"
	exit 2
	;;
esac
if [ -n "$from" ]; then
	[ -d "$from" ] || {
		say "--from $from: not a directory (it should hold the archives copied by hand; see --help)"
		exit 2
	}
	from=$(cd "$from" && pwd)
fi

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

if [ -n "${ONNXRUNTIME_LIB:-}" ] && [ -n "$from" ]; then
	say "note: \$ONNXRUNTIME_LIB=$ONNXRUNTIME_LIB is set; hybridembed loads that file, not this install, until it is unset"
elif [ -n "${ONNXRUNTIME_LIB:-}" ]; then
	if [ -f "$ONNXRUNTIME_LIB" ]; then
		say "using \$ONNXRUNTIME_LIB; nothing to install"
		echo "$ONNXRUNTIME_LIB"
		exit 0
	fi
	say "\$ONNXRUNTIME_LIB=$ONNXRUNTIME_LIB does not exist; installing into the cache instead (hybridembed refuses to start while it points at a missing file: unset it)"
fi

cache_root=${HYBRIDEMBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hybridembed}
dest=$cache_root/onnxruntime/$platform/$flavor
lib=$dest/lib/$libname

if [ "$force" = 0 ] && [ -z "$from" ] && [ -f "$lib" ] && [ -f "$dest/SOURCE" ]; then
	say "already installed: $(cat "$dest/SOURCE")"
	echo "$lib"
	exit 0
fi

tools="tar sha256sum"
[ -z "$from" ] && tools="$tools curl sha512sum base64"
for tool in $tools; do
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

# verify_pinned FILE NAME: FILE against NAME's pinned sha256. Returns 1 on a
# mismatch and 2 when NAME has no pinned hash.
verify_pinned() {
	local want got
	want=$(pinned_sha256 "$2")
	[ -n "$want" ] || return 2
	got=$(sha256sum "$1" | cut -d' ' -f1)
	if [ "$want" != "$got" ]; then
		say "checksum mismatch for $1: sha256 $got, pinned $want (a truncated or altered copy: copy or download it again)"
		return 1
	fi
}

# npm_tarball PKG VERSION OUT: download a package tarball and check it against
# the registry's integrity field and, where it has one, its pinned sha256.
npm_tarball() {
	local meta integrity tarball rc
	meta=$(curl -fsSL --connect-timeout 10 "$NPM_REGISTRY/$1/$2" 2>"$work/curl.err") || {
		say "npm registry $NPM_REGISTRY unreachable: $(tail -1 "$work/curl.err")"
		return 1
	}
	integrity=$(printf '%s' "$meta" | grep -o '"integrity": *"sha512-[^"]*"' | head -1 | grep -o 'sha512-[^"]*')
	tarball=$(printf '%s' "$meta" | grep -o '"tarball": *"[^"]*"' | head -1 | grep -o 'https\?://[^"]*')
	if [ -z "$integrity" ] || [ -z "$tarball" ]; then
		say "npm registry metadata for $1@$2 has no tarball or integrity"
		return 1
	fi
	say "downloading $tarball"
	fetch "$tarball" "$3" || return 1
	verify_sha512_integrity "$3" "$integrity" || return 1
	rc=0
	verify_pinned "$3" "$1-$2.tgz" || rc=$?
	[ "$rc" != 1 ]
}

# The official archive for this platform and flavor, without its extension.
if [ "$flavor" = gpu ]; then
	official=onnxruntime-$gh-gpu_cuda$cuda-$ORT_VERSION
else
	official=onnxruntime-$gh-$ORT_VERSION
fi

# unpack_official ARCHIVE NAME: the runtime (and, for --gpu, the CUDA provider
# and the provider bridge it loads) from an official archive whose top
# folder is NAME.
unpack_official() {
	case "$1" in
	*.zip) (cd "$work" && unzip -q "$1") || return 1 ;;
	*) tar xzf "$1" -C "$work" || return 1 ;;
	esac
	# shellcheck disable=SC2086 # ghlib is a glob
	cp -P "$work/$2"/$ghlib "$stage/lib/" || return 1
	if [ "$flavor" = gpu ]; then
		cp "$work/$2/lib/libonnxruntime_providers_cuda.so" "$work/$2/lib/libonnxruntime_providers_shared.so" "$stage/lib/" || {
			say "$2 has no CUDA provider (lib/libonnxruntime_providers_cuda.so): not a GPU build"
			return 1
		}
	fi
}

# unpack_npm_cpu TARBALL: the runtime from onnxruntime-node.
unpack_npm_cpu() {
	tar xzf "$1" -C "$work" "package/bin/napi-v6/$npm" || return 1
	case "$platform" in
	windows-*) cp "$work/package/bin/napi-v6/$npm/onnxruntime.dll" "$stage/lib/" ;;
	darwin-*) cp "$work/package/bin/napi-v6/$npm"/libonnxruntime.*.dylib "$stage/lib/" ;;
	*) cp "$work/package/bin/napi-v6/$npm/libonnxruntime.so.1" "$stage/lib/" ;;
	esac
}

# unpack_npm_gpu CORE PROVIDER: the runtime from the core package, the CUDA
# provider and its bridge from the linux-x64-gpu one.
unpack_npm_gpu() {
	tar xzf "$1" -C "$work" package/Plugins/Linux/x64/libonnxruntime.so || return 1
	tar xzf "$2" -C "$work" package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so package/Plugins/Linux/x64/libonnxruntime_providers_shared.so || return 1
	cp "$work"/package/Plugins/Linux/x64/*.so "$stage/lib/"
}

npm_gpu_source="ONNX Runtime 1.29.0 (gpu, CUDA 13 provider), npm $NPM_GPU_CORE_PKG@$NPM_GPU_VERSION + $NPM_GPU_PROVIDER_PKG@$NPM_GPU_VERSION"
npm_cpu_source="ONNX Runtime $NPM_CPU_VERSION (cpu, $platform), official build from npm $NPM_CPU_PKG@$NPM_CPU_VERSION"

from_github() {
	local url digest rc
	url=$ORT_RELEASE_URL/v$ORT_VERSION/$official.$ext
	say "trying the official release $url"
	fetch "$url" "$work/$official.$ext" || return 1
	rc=0
	verify_pinned "$work/$official.$ext" "$official.$ext" || rc=$?
	case "$rc" in
	1) return 1 ;;
	2)
		# No pin for this asset: GitHub publishes a sha256 digest per release
		# asset in the releases API.
		digest=$(curl -fsSL --connect-timeout 10 "$ORT_RELEASE_API/v$ORT_VERSION" 2>/dev/null |
			tr ',' '\n' | grep -A30 "\"name\": *\"$official.$ext\"" | grep -o '"digest": *"sha256:[0-9a-f]*"' | head -1 | grep -o '[0-9a-f]\{64\}') || true
		if [ -n "$digest" ]; then
			echo "$digest  $work/$official.$ext" | sha256sum -c --status || {
				say "checksum mismatch for $official.$ext (GitHub says sha256 $digest)"
				return 1
			}
		else
			say "warning: no pinned or published digest for $official.$ext; installed unverified"
		fi
		;;
	esac
	unpack_official "$work/$official.$ext" "$official" || return 1
	echo "ONNX Runtime $ORT_VERSION ($flavor), official release $url" >"$stage/SOURCE"
}

from_npm() {
	if [ "$flavor" = cpu ]; then
		if [ -z "$npm" ]; then
			say "$NPM_CPU_PKG@$NPM_CPU_VERSION has no build for $platform"
			return 1
		fi
		npm_tarball "$NPM_CPU_PKG" "$NPM_CPU_VERSION" "$work/npm.tgz" || return 1
		unpack_npm_cpu "$work/npm.tgz" || return 1
		echo "$npm_cpu_source" >"$stage/SOURCE"
	else
		npm_tarball "$NPM_GPU_CORE_PKG" "$NPM_GPU_VERSION" "$work/core.tgz" || return 1
		npm_tarball "$NPM_GPU_PROVIDER_PKG" "$NPM_GPU_VERSION" "$work/gpu.tgz" || return 1
		unpack_npm_gpu "$work/core.tgz" "$work/gpu.tgz" || return 1
		echo "$npm_gpu_source" >"$stage/SOURCE"
	fi
}

# verified_in_dir NAME: NAME is in $from and matches its pinned sha256 (a
# file with no pinned hash is refused: nothing copied by hand installs
# unverified).
verified_in_dir() {
	local rc=0
	[ -f "$from/$1" ] || return 1
	verify_pinned "$from/$1" "$1" || rc=$?
	if [ "$rc" = 2 ]; then
		say "$from/$1 has no pinned sha256 in this script; refusing to install it unverified"
	fi
	[ "$rc" = 0 ]
}

# from_libs NAME...: the library files themselves in $from, each matching
# its pinned sha256 ($flavor/NAME); returns 2 when none of them is there.
from_libs() {
	local name want got some=0
	for name in "$@"; do
		[ -f "$from/$name" ] && some=1
	done
	[ "$some" = 1 ] || return 2
	for name in "$@"; do
		[ -f "$from/$name" ] || {
			say "$from has some of the libraries ($*) but not $name"
			return 1
		}
		want=$(pinned_lib_sha256 "$flavor/$name")
		got=$(sha256sum "$from/$name" | cut -d' ' -f1)
		if [ "$want" != "$got" ]; then
			say "checksum mismatch for $from/$name: sha256 $got, pinned $want (not the file this script installs from the npm tarballs)"
			return 1
		fi
	done
	for name in "$@"; do
		cp "$from/$name" "$stage/lib/"
	done
	say "installing the libraries in $from (sha256 verified)"
}

# from_dir: the official archive in $from if it is there, else the npm
# tarballs, else the library files; no network. Each file is checked against its pinned sha256
# before anything is unpacked.
from_dir() {
	local names name other
	if [ "$flavor" = gpu ]; then
		other=12
		[ "$cuda" = 12 ] && other=13
		names="onnxruntime-$gh-gpu_cuda$cuda-$ORT_VERSION onnxruntime-$gh-gpu_cuda$other-$ORT_VERSION"
	else
		names=$official
	fi
	for name in $names; do
		if verified_in_dir "$name.$ext"; then
			say "installing $from/$name.$ext (sha256 verified)"
			unpack_official "$from/$name.$ext" "$name" || return 1
			echo "ONNX Runtime $ORT_VERSION ($flavor), official release archive $name.$ext from $from (sha256 $(pinned_sha256 "$name.$ext"))" >"$stage/SOURCE"
			return 0
		fi
	done
	if [ "$flavor" = cpu ]; then
		name=$NPM_CPU_PKG-$NPM_CPU_VERSION.tgz
		if [ -n "$npm" ] && verified_in_dir "$name"; then
			say "installing $from/$name (sha256 verified)"
			unpack_npm_cpu "$from/$name" || return 1
			echo "$npm_cpu_source, from $from (sha256 $(pinned_sha256 "$name"))" >"$stage/SOURCE"
			return 0
		fi
		if [ "$platform" = linux-amd64 ]; then
			local rc=0
			from_libs libonnxruntime.so.1 || rc=$?
			if [ "$rc" = 0 ]; then
				echo "$npm_cpu_source, its library file from $from (sha256 verified)" >"$stage/SOURCE"
				return 0
			fi
			[ "$rc" = 1 ] && return 1
		fi
		say "$from has no usable ONNX Runtime: copy $official.$ext (from the GitHub release v$ORT_VERSION) or $name (\`npm pack $NPM_CPU_PKG@$NPM_CPU_VERSION\`) into it"
		return 1
	fi
	local core=$NPM_GPU_CORE_PKG-$NPM_GPU_VERSION.tgz gpu=$NPM_GPU_PROVIDER_PKG-$NPM_GPU_VERSION.tgz
	if [ -f "$from/$core" ] || [ -f "$from/$gpu" ]; then
		for name in $core $gpu; do
			[ -f "$from/$name" ] || {
				say "$from has $([ "$name" = "$core" ] && echo "$gpu" || echo "$core") but not $name: the CUDA build needs both npm tarballs"
				return 1
			}
		done
		verified_in_dir "$core" && verified_in_dir "$gpu" || return 1
		say "installing $from/$core + $from/$gpu (sha256 verified)"
		unpack_npm_gpu "$from/$core" "$from/$gpu" || return 1
		echo "$npm_gpu_source, from $from (sha256 $(pinned_sha256 "$core") + $(pinned_sha256 "$gpu"))" >"$stage/SOURCE"
		return 0
	fi
	local rc=0
	from_libs libonnxruntime.so libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so || rc=$?
	if [ "$rc" = 0 ]; then
		echo "$npm_gpu_source, its library files from $from (sha256 verified)" >"$stage/SOURCE"
		return 0
	fi
	[ "$rc" = 1 ] && return 1
	say "$from has no usable ONNX Runtime CUDA build: copy onnxruntime-$gh-gpu_cuda13-$ORT_VERSION.$ext (or _cuda12, from the GitHub release v$ORT_VERSION), or both $core and $gpu (\`npm pack $NPM_GPU_CORE_PKG@$NPM_GPU_VERSION $NPM_GPU_PROVIDER_PKG@$NPM_GPU_VERSION\`), or the three library files they hold (see --help) into it"
	return 1
}

if [ -n "$from" ]; then
	if ! from_dir; then
		say "nothing installed (the cache is unchanged)"
		exit 1
	fi
elif ! from_github; then
	say "official release unavailable; falling back to the npm registry"
	rm -rf "${stage:?}"/lib/* "$stage/SOURCE"
	if ! from_npm; then
		say "could not download ONNX Runtime from GitHub or $NPM_REGISTRY."
		say "Without a network: copy the archives onto this machine and run $0$([ "$flavor" = gpu ] && echo " --gpu") --from DIR (see --help),"
		say "or download it by hand and set ONNXRUNTIME_LIB=/path/to/$libname"
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

#!/usr/bin/env bash
# Prepare, on a machine with Go and a network, what scripts/gpu-check.sh
# needs on a GPU machine that has neither: the CLI, the CUDA test binaries
# and the CUDA benchmarks (cgo, linux/amd64, stripped), libjpeg-turbo, and
# the CUDA build of ONNX Runtime as the three library files
# install-onnxruntime.sh --gpu --from verifies against their pinned sha256
# (taken from the npm tarballs, fetched with npm pack when they are not in
# ~/.cache/hybridembed/tarballs). It all goes into one archive, split into
# parts small enough for a device call each:
#
#   .gpu/MANIFEST        the parts and their sha256
#   .gpu/p00 .gpu/p01 ...   about 51 MiB each
#
# Usage: scripts/gpu-stage.sh [PART_MIB]     (default 51: 4 parts, each under
# the 64 MiB a call carries with the work tree)
#
# .gpu/ is ignored by git. Send the parts to the device machine with one
# call each, back to back (a warm machine keeps the ignored files an earlier
# call left; every call sends the work tree, about 9 MiB, beside them):
#   run carry=[".gpu/MANIFEST", ".gpu/p01"]  command="scripts/gpu-check.sh receive"
#   run carry=[".gpu/MANIFEST", ".gpu/p02"]  command="scripts/gpu-check.sh receive"
#   ...
#   run carry=[".gpu/MANIFEST", ".gpu/pNN"]  command="scripts/gpu-check.sh run"  (timeout_s 600)
# `receive` says which parts the machine has; `run` stops, naming the
# missing ones, if the machine was replaced between calls.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
part_mib=${1:-51}
cache_root=${HYBRIDEMBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hybridembed}
tarballs=${ORT_TARBALLS:-$cache_root/tarballs}
out=$repo/.gpu
say() { echo "gpu-stage: $*" >&2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
payload=$work/payload
mkdir -p "$payload/bin" "$payload/ort" "$payload/turbojpeg"

# The CUDA build, installed (and so verified) from the npm tarballs into a
# scratch cache, then copied as the library files.
for f in com.github.asus4.onnxruntime-0.4.9.tgz com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz; do
	if [ ! -f "$tarballs/$f" ]; then
		mkdir -p "$tarballs"
		pkg=${f%.tgz}
		say "fetching ${pkg%-*}@${pkg##*-} with npm pack"
		(cd "$tarballs" && npm pack --silent "${pkg%-*}@${pkg##*-}" >/dev/null)
	fi
done
HYBRIDEMBED_CACHE=$work/cache "$repo/scripts/install-onnxruntime.sh" --gpu --from "$tarballs" >/dev/null
cp "$work"/cache/onnxruntime/linux-amd64/gpu/lib/*.so "$payload/ort/"

# libjpeg-turbo, as make test installs it.
turbo=$("$repo/scripts/install-libjpeg-turbo.sh")
cp "$turbo" "$payload/turbojpeg/"

# The binaries, stripped. Not -trimpath: the tests find testdata/ from
# their source file's path (internal/fixtures.Root), so gpu-check.sh links
# this checkout's path (BUILDROOT) to the work tree on the GPU machine.
cd "$repo"
flags=(-ldflags=-s\ -w)
echo "$repo" >"$payload/BUILDROOT"
export CGO_ENABLED=1 GOOS=linux GOARCH=amd64
say "building the CLI, the CUDA test binaries and the benchmarks"
go build "${flags[@]}" -o "$payload/bin/hybridembed" ./cmd/hybridembed
go test -c "${flags[@]}" -o "$payload/bin/ort.test" ./local/ort
go test -c "${flags[@]}" -o "$payload/bin/local.test" ./local
go build "${flags[@]}" -o "$payload/bin/benchcuda" ./scripts/benchcuda
go build "${flags[@]}" -o "$payload/bin/benchtext" ./scripts/benchtext
git rev-parse HEAD >"$payload/COMMIT" 2>/dev/null || echo unknown >"$payload/COMMIT"

say "packing"
tar czf "$work/payload.tgz" -C "$payload" .
rm -rf "$out"
mkdir -p "$out"
split -b "${part_mib}m" -d -a 2 "$work/payload.tgz" "$out/p"
# split numbers from 00; gpu-check.sh reads them in order whatever the names.
(cd "$out" && sha256sum p* >MANIFEST && sha256sum "$work/payload.tgz" | cut -d' ' -f1 >PAYLOAD.sha256 && cat PAYLOAD.sha256 >>MANIFEST)
grep -qx '/.gpu/' "$repo/.git/info/exclude" 2>/dev/null || grep -qx '/.gpu/' "$repo/.gitignore" || say "warning: add /.gpu/ to .gitignore"
n=$(ls "$out"/p* | wc -l)
say "payload $(du -h "$work/payload.tgz" | cut -f1) in $n parts under $out (commit $(cat "$payload/COMMIT"))"
for p in "$out"/p*; do
	echo "  $(du -h "$p" | cut -f1)  ${p#"$repo"/}"
done

#!/usr/bin/env bash
# make test-arm64: cross-compile the test binaries for linux/arm64 (with cgo:
# ONNX Runtime, SQLite) and run them under qemu-aarch64 with the official
# arm64 ONNX Runtime. Slow (the emulated runtime is ~10-20x slower), so it
# runs the engine, parity, index, server and CLI tests, not the benchmarks.
#
# Needs Debian's gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user;
# as root it installs them with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "test-arm64: $*" >&2; }

need=()
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		say "needs ${need[*]} (Debian/Ubuntu packages)"
		exit 1
	fi
	say "installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
		{ apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
scripts/install-onnxruntime.sh --platform linux-arm64 >/dev/null

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
packages=(. ./local/... ./internal/index ./internal/server ./cmd/hybridembed)
start=$(date +%s)
status=0
for pkg in $(go list "${packages[@]}"); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	name=$(echo "$pkg" | tr / _)
	if ! CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc go test -c -o "$out/$name.test" "$pkg"; then
		status=1
		continue
	fi
	[ -f "$out/$name.test" ] || continue # no tests
	say "running $pkg under qemu-aarch64"
	if ! (cd "$dir" && HYBRIDEMBED_REQUIRE_ORT=1 qemu-aarch64 -L /usr/aarch64-linux-gnu "$out/$name.test" -test.count=1 -test.timeout=20m); then
		status=1
	fi
done
say "done in $(($(date +%s) - start))s"
exit $status

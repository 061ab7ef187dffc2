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
# ONNX Runtime's cpuinfo library reads /proc/cpuinfo at load time, and
# qemu-user (7.2) shows the emulated program the host's x86 one, on which
# it crashes (a NULL dereference in dlopen). Each test binary therefore
# runs in a private mount namespace where /proc/cpuinfo describes two
# Cortex-A72 cores. That needs root (unshare, mount --bind).
for cpu in 0 1; do
	printf 'processor\t: %d\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' "$cpu"
done >"$out/cpuinfo"
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
	say "needs root and unshare, to show the emulated ONNX Runtime an arm64 /proc/cpuinfo"
	exit 1
fi
emulate() {
	unshare -m sh -c 'mount --bind "$1" /proc/cpuinfo && shift && exec qemu-aarch64 -L /usr/aarch64-linux-gnu "$@"' sh "$out/cpuinfo" "$@"
}
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
	# Tests that start a second copy of the test binary cannot run here:
	# without binfmt_misc, qemu-user cannot exec an arm64 child.
	if ! (cd "$dir" && HYBRIDEMBED_REQUIRE_ORT=1 emulate "$out/$name.test" -test.count=1 -test.timeout=30m \
		-test.skip '^(TestKillAndResume|TestServeSIGTERM|TestShardsAsProcesses|TestShardKilledAndRerun)$'); then
		status=1
	fi
done
say "done in $(($(date +%s) - start))s"
exit $status

#!/usr/bin/env bash
# make cross: build the CLI for the platforms that cannot be tested here.
#   windows/amd64 with cgo (ONNX Runtime, SQLite) through mingw-w64, which
#     it installs with apt-get as root when missing; without it, a
#     CGO_ENABLED=0 build (which compiles, but cannot load ONNX Runtime);
#   darwin/arm64 and darwin/amd64 with CGO_ENABLED=0 (no macOS toolchain
#     here): a check that the code compiles for macOS, not a usable binary.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "build-cross: $*" >&2; }
out=${1:-bin}
mkdir -p "$out"
if ! command -v x86_64-w64-mingw32-gcc >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	say "installing mingw-w64 for the Windows cgo build"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-mingw-w64-x86-64 >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-mingw-w64-x86-64 >/dev/null 2>&1; } || true
fi
if command -v x86_64-w64-mingw32-gcc >/dev/null; then
	CGO_ENABLED=1 GOOS=windows GOARCH=amd64 CC=x86_64-w64-mingw32-gcc go build -o "$out/hybridembed.exe" ./cmd/hybridembed
	say "windows/amd64 (cgo, mingw-w64): $out/hybridembed.exe"
else
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -o "$out/hybridembed.exe" ./cmd/hybridembed
	say "windows/amd64: no mingw-w64, so a CGO_ENABLED=0 build (it cannot load ONNX Runtime)"
fi
for arch in arm64 amd64; do
	CGO_ENABLED=0 GOOS=darwin GOARCH=$arch go build -o /dev/null ./cmd/hybridembed
	say "darwin/$arch: compiles (CGO_ENABLED=0 check; no macOS toolchain here)"
done

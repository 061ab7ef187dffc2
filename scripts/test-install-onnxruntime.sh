#!/usr/bin/env bash
# Test scripts/install-onnxruntime.sh --from: installs from archives copied by
# hand with no network at all (the registry and GitHub point at a closed
# port, curl is a stub that fails the test if it is ever run, and, where
# this user may, the script runs in a network namespace of its own with no
# interfaces up), verifies every file against its pinned sha256, and refuses
# bad copies leaving the cache as it was.
#
# Usage: scripts/test-install-onnxruntime.sh   (make test-install)
#
# The real archives (npm's onnxruntime-node 1.30.0, and the two
# com.github.asus4.onnxruntime 0.4.9 tarballs of the CUDA build: 440 MB in
# all) are read from $ORT_TARBALLS (default
# ~/.cache/hybridembed/tarballs); when they are not there they are fetched
# once with `npm pack`, as a person would on a machine with a network. The
# cases that need them are skipped, saying so, when they cannot be had
# (failing instead with HYBRIDEMBED_TEST_STRICT=1); the refusal cases run
# everywhere.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
install=$repo/scripts/install-onnxruntime.sh
cache_root=${HYBRIDEMBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hybridembed}
tarballs=${ORT_TARBALLS:-$cache_root/tarballs}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failures=0
passes=0
skips=0
pass() {
	echo "ok   $*"
	passes=$((passes + 1))
}
fail() {
	echo "FAIL $*"
	failures=$((failures + 1))
}
skip() {
	if [ -n "${HYBRIDEMBED_TEST_STRICT:-}" ]; then
		fail "$* (HYBRIDEMBED_TEST_STRICT=1: skipping is a failure)"
	else
		echo "skip $*"
		skips=$((skips + 1))
	fi
}

# The offline world: no registry, no GitHub, no curl.
mkdir -p "$tmp/bin"
cat >"$tmp/bin/curl" <<EOF
#!/bin/sh
echo "curl \$*" >>"$tmp/curl-called"
exit 7
EOF
chmod +x "$tmp/bin/curl"
netns=()
if unshare -n true 2>/dev/null; then
	netns=(unshare -n)
fi

# offline_install NAME CACHE ARGS...: run the installer offline, output in
# $tmp/NAME.out, status in $tmp/NAME.rc.
offline_install() {
	local name=$1 cache=$2
	shift 2
	local rc=0
	"${netns[@]}" env -u ONNXRUNTIME_LIB PATH="$tmp/bin:$PATH" HYBRIDEMBED_CACHE="$cache" \
		NPM_REGISTRY=http://127.0.0.1:9 ORT_RELEASE_URL=http://127.0.0.1:9 ORT_RELEASE_API=http://127.0.0.1:9 \
		"$install" "$@" >"$tmp/$name.out" 2>&1 || rc=$?
	echo "$rc" >"$tmp/$name.rc"
}
rc_of() { cat "$tmp/$1.rc"; }
out_has() { grep -qF -- "$2" "$tmp/$1.out"; }
show() { sed 's/^/     | /' "$tmp/$1.out"; }

cpu_tgz=onnxruntime-node-1.30.0.tgz
core_tgz=com.github.asus4.onnxruntime-0.4.9.tgz
gpu_tgz=com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz

# The copy by hand: the one step that may use a network.
have_real=1
for f in $cpu_tgz $core_tgz $gpu_tgz; do
	[ -f "$tarballs/$f" ] && continue
	if command -v npm >/dev/null; then
		mkdir -p "$tarballs"
		pkg=${f%.tgz}
		spec="${pkg%-*}@${pkg##*-}"
		echo "fetching $spec into $tarballs with npm pack (the copy a person makes by hand)"
		(cd "$tarballs" && npm pack --silent "$spec" >/dev/null 2>&1) || true
	fi
	[ -f "$tarballs/$f" ] || have_real=0
done
[ -n "${netns[*]}" ] && echo "installs run in a network namespace with no interfaces (unshare -n)" ||
	echo "installs run with the registry and GitHub at a closed port and curl stubbed (unshare -n not permitted here)"

if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
	skip "real archives: these are the linux-amd64 builds"
	have_real=0
fi

if [ "$have_real" = 1 ]; then
	# GPU from the two npm tarballs.
	gpu_dir=$tmp/copied-gpu
	mkdir -p "$gpu_dir"
	ln -s "$tarballs/$core_tgz" "$tarballs/$gpu_tgz" "$gpu_dir/"
	offline_install gpu "$tmp/cache" --gpu --from "$gpu_dir"
	lib=$tmp/cache/onnxruntime/linux-amd64/gpu/lib
	if [ "$(rc_of gpu)" = 0 ] && [ -f "$lib/libonnxruntime.so" ] && [ -f "$lib/libonnxruntime_providers_cuda.so" ] &&
		[ -f "$lib/libonnxruntime_providers_shared.so" ] && grep -q "from $gpu_dir" "$lib/../SOURCE" &&
		[ "$(tail -1 "$tmp/gpu.out")" = "$lib/libonnxruntime.so" ]; then
		pass "--gpu --from: the CUDA build installs from the two npm tarballs, offline"
	else
		fail "--gpu --from did not install the CUDA build"
		show gpu
	fi
	if readelf -d "$lib/libonnxruntime_providers_cuda.so" 2>/dev/null | grep -q 'libcublas.so.13'; then
		pass "--gpu --from: the installed provider is the CUDA 13 one (needs libcublas.so.13)"
	elif ! command -v readelf >/dev/null; then
		skip "no readelf to read the provider's needs"
	else
		fail "the installed CUDA provider does not need libcublas.so.13"
	fi

	# CPU from onnxruntime-node.
	cpu_dir=$tmp/copied-cpu
	mkdir -p "$cpu_dir"
	ln -s "$tarballs/$cpu_tgz" "$cpu_dir/"
	offline_install cpu "$tmp/cache" --from "$cpu_dir"
	if [ "$(rc_of cpu)" = 0 ] && [ -f "$tmp/cache/onnxruntime/linux-amd64/cpu/lib/libonnxruntime.so.1" ]; then
		pass "--from: the CPU build installs from onnxruntime-node, offline"
	else
		fail "--from did not install the CPU build"
		show cpu
	fi

	# The installed builds load, and doctor tells them apart.
	if command -v go >/dev/null && (cd "$repo" && go build -o "$tmp/hybridembed" ./cmd/hybridembed) 2>"$tmp/build.err"; then
		for flavor in cpu gpu; do
			if ONNXRUNTIME_LIB=$tmp/cache/onnxruntime/linux-amd64/$flavor/lib/libonnxruntime.so HYBRIDEMBED_CACHE=$tmp/cache \
				"$tmp/hybridembed" doctor --json >"$tmp/doctor-$flavor.json" 2>"$tmp/doctor-$flavor.err" || true; then :; fi
		done
		if grep -q '"version": "1.30.0"' "$tmp/doctor-cpu.json" && grep -q '"build": "cpu"' "$tmp/doctor-cpu.json"; then
			pass "doctor loads the installed CPU build: ONNX Runtime 1.30.0, a CPU build"
		else
			fail "doctor on the installed CPU build"
			sed 's/^/     | /' "$tmp/doctor-cpu.json" "$tmp/doctor-cpu.err"
		fi
		if grep -q '"version": "1.29.0"' "$tmp/doctor-gpu.json" && grep -q '"build": "cuda"' "$tmp/doctor-gpu.json"; then
			pass "doctor loads the installed GPU build: ONNX Runtime 1.29.0, a CUDA build"
		else
			fail "doctor on the installed GPU build"
			sed 's/^/     | /' "$tmp/doctor-gpu.json" "$tmp/doctor-gpu.err"
		fi
	else
		skip "doctor on the installed builds: cannot build the CLI ($(tail -1 "$tmp/build.err" 2>/dev/null || echo "no go"))"
	fi

	# A bad copy of one tarball is refused and the installed build stays.
	bad_dir=$tmp/copied-bad
	mkdir -p "$bad_dir"
	head -c 1000000 "$tarballs/$core_tgz" >"$bad_dir/$core_tgz"
	ln -s "$tarballs/$gpu_tgz" "$bad_dir/"
	before=$(cd "$lib/.." && sha256sum SOURCE lib/*)
	offline_install bad "$tmp/cache" --gpu --from "$bad_dir"
	after=$(cd "$lib/.." && sha256sum SOURCE lib/*)
	if [ "$(rc_of bad)" = 1 ] && out_has bad "checksum mismatch for $bad_dir/$core_tgz" && out_has bad "the cache is unchanged" &&
		[ "$before" = "$after" ]; then
		pass "--from: a truncated copy is refused by its sha256, and the installed build is left as it was"
	else
		fail "a truncated copy was not refused cleanly"
		show bad
	fi

	# The library files themselves, as copied from an install: verified one
	# by one; one altered byte is refused.
	libs_dir=$tmp/copied-libs
	mkdir -p "$libs_dir"
	cp "$lib"/libonnxruntime.so "$lib"/libonnxruntime_providers_cuda.so "$lib"/libonnxruntime_providers_shared.so "$libs_dir/"
	offline_install libs "$tmp/cache-libs" --gpu --from "$libs_dir"
	if [ "$(rc_of libs)" = 0 ] && cmp -s "$libs_dir/libonnxruntime_providers_cuda.so" "$tmp/cache-libs/onnxruntime/linux-amd64/gpu/lib/libonnxruntime_providers_cuda.so"; then
		pass "--gpu --from: the three library files install, each checked against its pinned sha256"
	else
		fail "--gpu --from a folder of the library files"
		show libs
	fi
	printf 'X' | dd of="$libs_dir/libonnxruntime_providers_shared.so" bs=1 seek=100 conv=notrunc 2>/dev/null
	offline_install libsbad "$tmp/cache-libsbad" --gpu --from "$libs_dir"
	if [ "$(rc_of libsbad)" = 1 ] && out_has libsbad "checksum mismatch for $libs_dir/libonnxruntime_providers_shared.so" && [ ! -e "$tmp/cache-libsbad/onnxruntime/linux-amd64/gpu" ]; then
		pass "--gpu --from: a library file with one byte changed is refused"
	else
		fail "an altered library file"
		show libsbad
	fi

	# A corrupt official archive beside good npm tarballs: said, then the npm ones.
	mixed_dir=$tmp/copied-mixed
	mkdir -p "$mixed_dir"
	echo "not an archive" >"$mixed_dir/onnxruntime-linux-x64-gpu_cuda13-1.30.0.tgz"
	ln -s "$tarballs/$core_tgz" "$tarballs/$gpu_tgz" "$mixed_dir/"
	offline_install mixed "$tmp/cache-mixed" --gpu --from "$mixed_dir"
	if [ "$(rc_of mixed)" = 0 ] && out_has mixed "checksum mismatch for $mixed_dir/onnxruntime-linux-x64-gpu_cuda13-1.30.0.tgz" &&
		grep -q "npm com.github.asus4" "$tmp/cache-mixed/onnxruntime/linux-amd64/gpu/SOURCE"; then
		pass "--from: a corrupt official archive is reported and the verified npm tarballs install instead"
	else
		fail "a corrupt official archive beside good npm tarballs"
		show mixed
	fi
else
	skip "the installs from real archives: $cpu_tgz, $core_tgz and $gpu_tgz are not in $tarballs and npm could not fetch them"
fi

# Refusals that need no real archive.
half_dir=$tmp/copied-half
mkdir -p "$half_dir"
echo x >"$half_dir/$gpu_tgz"
offline_install half "$tmp/cache-half" --gpu --from "$half_dir"
if [ "$(rc_of half)" = 1 ] && out_has half "has $gpu_tgz but not $core_tgz" && [ ! -e "$tmp/cache-half/onnxruntime/linux-amd64/gpu" ]; then
	pass "--gpu --from: one npm tarball of two names the missing one and installs nothing"
else
	fail "one npm tarball of two"
	show half
fi

empty_dir=$tmp/copied-empty
mkdir -p "$empty_dir"
offline_install empty "$tmp/cache-empty" --gpu --from "$empty_dir"
if [ "$(rc_of empty)" = 1 ] && out_has empty "onnxruntime-linux-x64-gpu_cuda13-1.30.0.tgz" && out_has empty "$core_tgz" && out_has empty "$gpu_tgz"; then
	pass "--gpu --from an empty folder names the files to copy"
else
	fail "--gpu --from an empty folder"
	show empty
fi
offline_install emptycpu "$tmp/cache-empty" --from "$empty_dir"
if [ "$(rc_of emptycpu)" = 1 ] && out_has emptycpu "onnxruntime-linux-x64-1.30.0.tgz" && out_has emptycpu "$cpu_tgz"; then
	pass "--from an empty folder names the CPU files to copy"
else
	fail "--from an empty folder (CPU)"
	show emptycpu
fi

forged_dir=$tmp/copied-forged
mkdir -p "$forged_dir"
echo "not ONNX Runtime" >"$forged_dir/$cpu_tgz"
offline_install forged "$tmp/cache-forged" --from "$forged_dir"
if [ "$(rc_of forged)" = 1 ] && out_has forged "checksum mismatch for $forged_dir/$cpu_tgz" && [ ! -e "$tmp/cache-forged/onnxruntime/linux-amd64/cpu" ]; then
	pass "--from: a file under the right name with other contents is refused"
else
	fail "a forged onnxruntime-node tarball"
	show forged
fi

offline_install nodir "$tmp/cache-nodir" --from "$tmp/does-not-exist"
if [ "$(rc_of nodir)" = 2 ] && out_has nodir "not a directory"; then
	pass "--from a missing folder is a usage error"
else
	fail "--from a missing folder"
	show nodir
fi

if [ -f "$tmp/curl-called" ]; then
	fail "curl was run during --from installs: $(cat "$tmp/curl-called")"
else
	pass "no --from install ran curl"
fi

echo
echo "$passes passed, $failures failed, $skips skipped"
[ "$failures" = 0 ]

#!/usr/bin/env bash
# CUDA, proven, on a GPU machine with no Go and no network (issue 25 items 4
# and 5): install ONNX Runtime's CUDA build with --from, run doctor, the CUDA
# tests (fp32 and fp16 towers on the GPU, CPU-vs-CUDA parity, a huge batch
# that runs out of GPU memory), and the CUDA benchmarks (raw ORT CUDA
# against embed on 1024x768 and 12 MP JPEGs, the image path on every core,
# the text towers), writing the results under $OUT (default .gpu/out).
#
# Usage (in the work tree's root, on the GPU machine):
#   scripts/gpu-check.sh receive   keep the carried .gpu/pNN in /tmp (see
#                                  scripts/gpu-stage.sh, which makes them)
#   scripts/gpu-check.sh run       receive, then check everything (about 6
#                                  minutes on one H200: give it timeout_s 600)
#
# The CUDA build comes from the tarballs copied by hand into $ORT_TARBALLS
# (default /tmp: the two com.github.asus4 npm tarballs, or the official
# onnxruntime-linux-x64-gpu_cuda13-1.30.0.tgz) when they are there, else
# from the library files in the staged payload; either way
# install-onnxruntime.sh --gpu --from checks each file's pinned sha256.
# The bench model (a full-size random-weight ViT-B/32, fp32 and fp16, and a
# MiniLM-shaped text encoder) is written by scripts/make_fixtures.py with the
# machine's python3 (PyTorch and onnx).
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
mode=${1:-run}
out=${OUT:-$repo/.gpu/out}
keep=${GPU_STAGE_DIR:-/tmp/hybridembed-gpu}
mkdir -p "$out" "$keep/parts"
say() { echo "gpu-check: $*" | tee -a "$out/summary.txt" >&2; }

# receive: the carried parts, checked against the manifest, kept in /tmp for
# the calls that follow on this machine.
receive() {
	[ -f .gpu/MANIFEST ] || {
		say "no .gpu/MANIFEST: carry it with each part (scripts/gpu-stage.sh makes them)"
		return 1
	}
	cp .gpu/MANIFEST "$keep/MANIFEST"
	for p in .gpu/p[0-9]*; do
		[ -f "$p" ] || continue
		name=$(basename "$p")
		if grep " $name\$" .gpu/MANIFEST | sed "s| $name\$| $p|" | sha256sum -c --status; then
			cp "$p" "$keep/parts/$name"
		else
			say "$p does not match .gpu/MANIFEST: send it again"
		fi
	done
	missing=()
	while read -r _ name; do
		case "$name" in p[0-9]*) [ -f "$keep/parts/$name" ] || missing+=("$name") ;; esac
	done <"$keep/MANIFEST"
	say "parts here: $(cd "$keep/parts" && ls | tr '\n' ' ')${missing[*]:+; still to send: ${missing[*]}}"
	[ ${#missing[@]} = 0 ]
}

if [ "$mode" = receive ]; then
	receive || true
	exit 0
fi
[ "$mode" = run ] || {
	echo "usage: scripts/gpu-check.sh receive|run" >&2
	exit 2
}
: >"$out/summary.txt"
receive || {
	say "not all parts are on this machine (it may have been replaced between calls): send the missing ones, then run again"
	exit 3
}

payload=$keep/payload
if [ ! -f "$payload/COMMIT" ]; then
	mkdir -p "$payload"
	cat $(ls "$keep"/parts/p[0-9]* | sort) >"$keep/payload.tgz"
	want=$(tail -1 "$keep/MANIFEST")
	got=$(sha256sum "$keep/payload.tgz" | cut -d' ' -f1)
	[ "$want" = "$got" ] || {
		say "the reassembled payload's sha256 is $got, the manifest says $want"
		exit 3
	}
	tar xzf "$keep/payload.tgz" -C "$payload" && rm "$keep/payload.tgz"
fi
say "payload of commit $(cat "$payload/COMMIT"); work tree at $(git rev-parse HEAD 2>/dev/null || echo '?')"
# The tests find testdata/ from the path they were built at.
buildroot=$(cat "$payload/BUILDROOT")
if [ "$buildroot" != "$repo" ] && [ ! -e "$buildroot" ]; then
	mkdir -p "$(dirname "$buildroot")" && ln -s "$repo" "$buildroot"
fi
bin=$payload/bin
export HYBRIDEMBED_CACHE=$keep/cache TURBOJPEG_LIB=$payload/turbojpeg/libturbojpeg.so.0
unset ONNXRUNTIME_LIB

step() { # step NAME SECONDS CMD...: run, log to $out/NAME.txt, say how it ended
	local name=$1 secs=$2 rc=0 t0=$SECONDS
	shift 2
	timeout "$secs" "$@" >>"$out/$name.txt" 2>&1 || rc=$?
	say "$name: $([ $rc = 0 ] && echo ok || echo "exit $rc")$([ $rc = 124 ] && echo " (timed out after ${secs}s)") in $((SECONDS - t0))s: $*"
	return $rc
}

{
	echo "== nvidia-smi"
	nvidia-smi 2>&1
	echo "== python3: $(command -v python3)"
	python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1
} >"$out/doctor.txt"

# 1. Install the CUDA build, offline.
tarballs=${ORT_TARBALLS:-/tmp}
from=$payload/ort
if ls "$tarballs"/com.github.asus4.onnxruntime*-0.4.9.tgz "$tarballs"/onnxruntime-linux-x64-gpu_cuda1?-1.30.0.tgz >/dev/null 2>&1; then
	from=$tarballs
fi
echo "== install-onnxruntime.sh --gpu --from $from" >>"$out/doctor.txt"
step doctor 180 scripts/install-onnxruntime.sh --gpu --from "$from" || exit 1

# 2. doctor.
echo "== hybridembed doctor" >>"$out/doctor.txt"
step doctor 120 "$bin/hybridembed" doctor
timeout 120 "$bin/hybridembed" doctor --json >"$out/doctor.json" 2>>"$out/doctor.txt"

# 3. The CUDA tests, required to run (a skip is a failure).
export HYBRIDEMBED_REQUIRE_CUDA=1
(cd local/ort && step tests 240 "$bin/ort.test" -test.v -test.count=1 -test.run 'CUDA|Probe|Runtime|OutOfMemory|AutoFallback')
(cd local && step tests 300 "$bin/local.test" -test.v -test.count=1 -test.run 'CUDA|OutOfMemory|OOM')
grep -E '^(--- |ok|FAIL|PASS)|min cosine|huge batch|images in' "$out/tests.txt" >>"$out/summary.txt"

# 4. The bench model, then the CUDA benchmarks.
if [ ! -f .bench/vit-b32/onnx/vision_model_fp16.onnx ]; then
	step fixtures 300 python3 scripts/make_fixtures.py --bench .bench/vit-b32
fi
step bench 420 "$bin/benchcuda" -model .bench/vit-b32 -work .bench -n1024 "${N1024:-512}" -n12mp "${N12MP:-64}"
step bench 180 "$bin/benchtext" -device cuda -models .bench/vit-b32,.bench/minilm-l6 -texts 4096 -batch 256
sed -n '/^measurement/,$p' "$out/bench.txt" >>"$out/summary.txt"
grep '^  EmbedTexts\|^text on' "$out/bench.txt" >>"$out/summary.txt"
say "results: $(ls "$out" | tr '\n' ' ')"

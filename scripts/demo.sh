#!/usr/bin/env bash
# make demo: embed the sample images and rank them against captions, offline.
# Uses the real openai/clip-vit-base-patch32 when the local Hugging Face cache
# has it, and otherwise the committed fixture model (random weights).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/hybridembed
real=openai/clip-vit-base-patch32
captions=(--query "a red circle" --query "a blue square" --query "a green triangle" --query "a yellow star in the night sky")

if model_dir=$($bin models path --offline "$real" 2>/dev/null); then
	model=$real
	echo "== hybridembed demo: $real from the local cache ($model_dir)"
else
	model=testdata/models/tiny-clip
	cat <<'BANNER'
==========================================================================
 hybridembed demo with the FIXTURE model testdata/models/tiny-clip.
 It has the real CLIP architecture but RANDOM WEIGHTS: the rankings below
 exercise the whole pipeline (decode, preprocess, ONNX Runtime, tokenizer)
 and MEAN NOTHING. For real rankings, fetch the real model once:
     bin/hybridembed models pull openai/clip-vit-base-patch32
==========================================================================
BANNER
fi
echo
echo "\$ $bin embed --offline --model $model testdata/images | cut -c1-110"
$bin embed --offline --model "$model" testdata/images | cut -c1-110
echo
echo "\$ $bin search --offline --model $model $(printf "%q " "${captions[@]}")--top 2 testdata/images"
$bin search --offline --model "$model" "${captions[@]}" --top 2 testdata/images

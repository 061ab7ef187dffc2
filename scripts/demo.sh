#!/usr/bin/env bash
# make demo: embed the sample images and rank them against captions, offline.
# Uses the real openai/clip-vit-base-patch32 when the local Hugging Face cache
# has it, and otherwise the committed demo model: a tiny CLIP trained on
# rendered shapes (scripts/train_demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/hybridembed
real=openai/clip-vit-base-patch32
out=.demo
captions=(--query "a red circle" --query "a blue square" --query "a green triangle" --query "a yellow star")

if model_dir=$($bin models path --offline "$real" 2>/dev/null); then
	model=$real
	echo "== hybridembed demo: $real from the local cache ($model_dir)"
else
	model=testdata/models/shapes-clip
	cat <<'BANNER'
==========================================================================
 hybridembed demo with testdata/models/shapes-clip: a TOY CLIP (the real
 architecture, 0.3M parameters) trained by scripts/train_demo.py on
 rendered shapes. It knows six colours and four shapes on plain
 backgrounds, and nothing else. For real photos, fetch the real model once:
     bin/hybridembed models pull openai/clip-vit-base-patch32
==========================================================================
BANNER
fi
mkdir -p "$out"
echo
echo "\$ $bin embed --offline --model $model testdata/images | cut -c1-110"
$bin embed --offline --model "$model" testdata/images | cut -c1-110
echo
echo "\$ $bin search --offline --model $model --index $out/index.db --html $out/gallery.html $(printf "%q " "${captions[@]}")--top 2 testdata/images"
$bin search --offline --model "$model" --index "$out/index.db" --html "$out/gallery.html" "${captions[@]}" --top 2 testdata/images
echo
echo "The results as a page with thumbnails: $out/gallery.html (open it in a browser)."

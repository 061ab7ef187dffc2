#!/usr/bin/env bash
# make demo: embed the sample images, then rank the 96 held-out shapes
# (testdata/shapes-heldout: scenes the demo model never saw in training)
# against captions and say how many of each caption's top results are the
# right colour and shape, read from the file names. Offline.
#
# Uses the real openai/clip-vit-base-patch32 when the local Hugging Face cache
# has it, and otherwise the committed demo model: a tiny CLIP trained on
# rendered shapes (scripts/train_demo.py).
#
# DEMO_BIN (the CLI, default bin/hybridembed), DEMO_OUT (where the index and
# the gallery go, default .demo) and DEMO_TOP (results per caption, default 4:
# the held-out set has 4 files of each colour and shape) change the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DEMO_BIN:-bin/hybridembed}
out=${DEMO_OUT:-.demo}
top=${DEMO_TOP:-4}
if ! [[ $top =~ ^[1-9][0-9]*$ ]]; then
	echo "demo: DEMO_TOP=$top: want a whole number of results per caption, 1 or more" >&2
	exit 2
fi
real=openai/clip-vit-base-patch32
shapes=testdata/shapes-heldout
captions=("a red circle" "a blue square" "a green triangle" "a yellow star")
queries=()
for c in "${captions[@]}"; do queries+=(--query "$c"); done

if model_dir=$("$bin" models path --offline "$real" 2>/dev/null); then
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
"$bin" embed --offline --model "$model" testdata/images | cut -c1-110
echo
echo "Ranking the $(find "$shapes" -type f \( -name '*.jpg' -o -name '*.png' \) | wc -l | tr -d ' ') held-out shapes in $shapes (never seen in training):"
echo "\$ $bin search --offline --model $model --index $out/index.db --html $out/gallery.html $(printf "%q " "${queries[@]}")--top $top $shapes"
"$bin" search --offline --model "$model" --index "$out/index.db" --html "$out/gallery.html" "${queries[@]}" --top "$top" "$shapes"

# The same ranking again as bare paths (the index is up to date now), top
# results of each caption in turn, to score it by the file names:
# NNN_colour_shape.ext.
mapfile -t ranked < <("$bin" search --offline --no-update --paths --model "$model" --index "$out/index.db" "${queries[@]}" --top "$top" "$shapes")
if ((${#ranked[@]} != ${#captions[@]} * top)); then
	echo "demo: search --paths gave ${#ranked[@]} paths, want $top for each of ${#captions[@]} captions" >&2
	exit 1
fi
echo
echo "Right colour and shape among each caption's top $top, by the file names:"
shopt -s nullglob
for i in "${!captions[@]}"; do
	read -r _ colour shape <<<"${captions[i]}"
	right=0
	for p in "${ranked[@]:i*top:top}"; do
		if [[ $(basename "$p") == *_"${colour}_${shape}".* ]]; then
			right=$((right + 1))
		fi
	done
	have=("$shapes"/*_"${colour}_${shape}".{jpg,png})
	echo "  ${captions[i]}: $right of the top $top are $colour ${shape}s (the set has ${#have[@]})"
done
echo
echo "The results as a page with thumbnails: $out/gallery.html (open it in a browser)."

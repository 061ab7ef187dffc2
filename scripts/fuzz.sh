#!/usr/bin/env bash
# Run every native Go fuzz target (func FuzzX(f *testing.F) in a tracked
# _test.go file) for FUZZTIME each, one after another, and list the ones
# that failed. A failing input is written by go test under the package's
# testdata/fuzz/FuzzX/: fix the code and commit that file as a seed.
#
#   FUZZTIME   time per target (default 30s; the issue's bar is 5m)
#   FUZZ       a regular expression: only the targets whose names match
#   FUZZFLAGS  more go test flags, e.g. -parallel=1
#
# `make test` (and plain go test) runs the committed seeds of every target.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZ=${FUZZ:-.}
read -r -a flags <<<"${FUZZFLAGS:-}"

mapfile -t targets < <(git ls-files '*_test.go' | xargs grep -HoE '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' |
	sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*).*|\1 \2|; s|^[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*).*|. \1|' |
	sort -u | awk -v re="$FUZZ" '$2 ~ re')
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no target matches $FUZZ" >&2
	exit 1
fi
failed=()
for t in "${targets[@]}"; do
	read -r dir name <<<"$t"
	echo "fuzz: $dir $name for $FUZZTIME"
	if ! $GO test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "${flags[@]}" "./$dir"; then
		failed+=("$dir $name")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed:" >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "fuzz: ${#targets[@]} targets, $FUZZTIME each, found nothing"

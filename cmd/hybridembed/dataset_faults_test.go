package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/dataset"
	"github.com/hybridembed/hybridembed/internal/fixtures"
)

// rowsByRel counts a dataset's rows by their path relative to whichever of
// roots the row's path is under (a library seen at two mount paths).
func rowsByRel(t *testing.T, dir string, roots ...string) map[string]int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	require.NoError(t, err)
	out := map[string]int{}
	for _, f := range files {
		rows, err := dataset.ReadRows(f)
		require.NoError(t, err)
		for _, r := range rows {
			rel := r.Path
			for _, root := range roots {
				if p, ok := strings.CutPrefix(r.Path, root+string(filepath.Separator)); ok {
					rel = filepath.ToSlash(p)
				}
			}
			out[rel]++
		}
	}
	return out
}

// chunkSums is the sha256 of every committed chunk of a dataset, by name.
func chunkSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	require.NoError(t, err)
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		out[filepath.Base(f)] = sha256Hex(b)
	}
	return out
}

// TestDatasetLostChunk: a committed chunk disappears (an object-store sync,
// a corrupt file removed by hand). The rerun embeds its inputs again into a
// new chunk: every input is in the dataset once, no committed chunk is
// touched, and verify is clean. (The rerun used to name its chunk after the
// number of chunks present and rename it over the last committed one.)
func TestDatasetLostChunk(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	lib := t.TempDir()
	makeImages(t, lib, 40)
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"embed", "--format", "parquet", "-o", out, "--chunk", "5", "--model", model, lib}
	r := runCLI(t, "", args...)
	require.Equal(t, exitPartial, r.code, r.stderr) // the broken file
	before := chunkSums(t, out)
	require.Len(t, before, 9) // 41 rows in chunks of 5

	lost := "part-00000-of-00001-00003.parquet"
	require.Contains(t, before, lost)
	require.NoError(t, os.Remove(filepath.Join(out, lost)))
	delete(before, lost)
	v := runCLI(t, "", "dataset", "verify", out)
	assert.Equal(t, exitFatal, v.code, v.stdout)

	for range 2 { // a second rerun changes nothing either
		r = runCLI(t, "", args...)
		require.Contains(t, []int{exitOK, exitPartial}, r.code, r.stderr)
		after := chunkSums(t, out)
		for name, b := range before {
			assert.Equal(t, b, after[name], "%s was changed", name)
		}
		before = after
		counts := rowsByRel(t, out, lib)
		assert.Len(t, counts, 41)
		for rel, n := range counts {
			assert.Equal(t, 1, n, "%s is in the dataset %d times", rel, n)
		}
		v = runCLI(t, "", "dataset", "verify", out)
		assert.Equal(t, exitOK, v.code, v.stdout)
		assert.Contains(t, v.stdout, "1 of 1 shards complete; 41 rows (1 failed inputs)")
	}
	assert.Contains(t, r.stderr, "41 already in")
}

// TestDatasetResumeAfterMove: a shard's library is mounted somewhere else
// when the job is rescheduled (another pod, a requeued Slurm task), with new
// files added meanwhile. The rerun skips what is committed by key (the path
// relative to the folder given), embeds only the new files, and every input
// is in the dataset once.
func TestDatasetResumeAfterMove(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	base := t.TempDir()
	first := filepath.Join(base, "mnt-a", "photos")
	makeImages(t, first, 20)
	out := filepath.Join(t.TempDir(), "out")
	r := runCLI(t, "", "embed", "--format", "parquet", "-o", out, "--chunk", "4", "--shard", "1/2", "--model", model, first)
	require.Contains(t, []int{exitOK, exitPartial}, r.code, r.stderr)
	firstRows := len(rowsByRel(t, out, first))

	require.NoError(t, os.Rename(filepath.Join(base, "mnt-a"), filepath.Join(base, "mnt-b")))
	second := filepath.Join(base, "mnt-b", "photos")
	makeImages(t, filepath.Join(second, "new"), 20)
	r = runCLI(t, "", "embed", "--format", "parquet", "-o", out, "--chunk", "4", "--shard", "1/2", "--model", model, second)
	require.Contains(t, []int{exitOK, exitPartial}, r.code, r.stderr)

	counts := rowsByRel(t, out, first, second)
	for rel, n := range counts {
		assert.Equal(t, 1, n, "%s is in the dataset %d times", rel, n)
	}
	// Exactly the shard's inputs: those a fresh run over the new mount takes.
	fresh := filepath.Join(t.TempDir(), "fresh")
	r2 := runCLI(t, "", "embed", "--format", "parquet", "-o", fresh, "--shard", "1/2", "--model", model, second)
	require.Contains(t, []int{exitOK, exitPartial}, r2.code, r2.stderr)
	want := rowsByRel(t, fresh, second)
	assert.Equal(t, want, counts)
	assert.Contains(t, r.stderr, "already in")
	assert.Contains(t, r.stderr, fmt.Sprintf("%d already in %s, %d embedded now", firstRows, out, len(want)-firstRows))

	// Its only problem is the shard never run.
	v := runCLI(t, "", "dataset", "verify", out)
	assert.Equal(t, 1, strings.Count(v.stdout, "problem:"), v.stdout)
	assert.Contains(t, v.stdout, "problem: shard 0/2: missing")
}

// TestDatasetShardProblemsByKey: a file the walk cannot read is reported
// by the shard that owns its key (the path relative to the folder given),
// as the file would be embedded by it; a folder it cannot list, by every
// shard, since any shard's inputs may be in it. (Problems were assigned by
// hashing their full path: the owning shard said complete with exit 0
// while another reported a file it never owned, and a folder's problem
// reached one shard only.)
func TestDatasetShardProblemsByKey(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	lib := filepath.Join(t.TempDir(), "p", "lib")
	owned := [2]int{}
	for i := range 10 {
		name := fmt.Sprintf("IMG_%d.png", i)
		writePNG(t, filepath.Join(lib, name), uint64(i))
		if (dataset.Shard{K: 0, N: 2}).Owns(name) {
			owned[0]++
		} else {
			owned[1]++
		}
	}
	require.NotContains(t, owned, 0, "each shard has photos of its own")
	// A link to itself: stat fails (too many levels of links). Its name is
	// one whose key and full path hash to different shards, so that
	// attributing it by path picks the wrong one.
	first := dataset.Shard{K: 0, N: 2}
	var loop string
	for i := 0; loop == ""; i++ {
		name := fmt.Sprintf("loop%d.jpg", i)
		if first.Owns(name) != first.Owns(filepath.Join(lib, name)) {
			loop = name
		}
	}
	require.NoError(t, os.Symlink(loop, filepath.Join(lib, loop)))

	embedShard := func(lib string, k int) result {
		out := filepath.Join(t.TempDir(), "out")
		return runCLI(t, "", "embed", "--format", "parquet", "-o", out, "--shard", fmt.Sprintf("%d/2", k), "--model", model, lib)
	}
	for k := range 2 {
		r := embedShard(lib, k)
		if (dataset.Shard{K: k, N: 2}).Owns(loop) {
			assert.Equal(t, exitPartial, r.code, r.stderr)
			assert.Contains(t, r.stderr, loop, "the shard that owns %s says it could not be read", loop)
		} else {
			assert.Equal(t, exitOK, r.code, r.stderr)
			assert.NotContains(t, r.stderr, loop, "shard %d/2 reports a file it does not own", k)
		}
	}

	// A folder no shard can list: each of them says so.
	require.NoError(t, os.Remove(filepath.Join(lib, loop)))
	writePNG(t, filepath.Join(deepFolder(lib), "deep.png"), 9)
	for _, f := range unreadableFaults {
		t.Run(f.name, func(t *testing.T) {
			broken, undo := f.apply(t, lib)
			defer undo()
			for k := range 2 {
				r := embedShard(broken, k)
				assert.Equal(t, exitPartial, r.code, "shard %d/2: %s", k, r.stderr)
				assert.Contains(t, r.stderr, f.msg, "shard %d/2", k)
			}
		})
	}
}

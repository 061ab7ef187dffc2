package models_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/models"
	"github.com/hybridembed/hybridembed/models/modelstest"
)

// TestRemoveKilledAtEveryStep runs `models rm`'s removal in a child under
// strace, killing it (SIGKILL) at its first, second, ... unlinkat and
// renameat, and checks after each kill what a later load would find: a
// ref names a whole snapshot or is gone, a snapshot folder is whole (every
// file there, every link resolving to its blob) or gone, and the model is
// either cached and verifies or not cached. Then a second removal
// finishes the job. Before, the repo folder went in one os.RemoveAll, in
// directory order: a kill could leave refs/main naming a snapshot with
// half its links, or links into deleted blobs, which loaded as cached.
func TestRemoveKilledAtEveryStep(t *testing.T) {
	const id = "acme/tiny-st"
	if cache := os.Getenv("REMOVE_KILL_CACHE"); cache != "" {
		if _, _, err := (models.Cache{Dir: cache}).Remove(id); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(2)
		}
		os.Exit(0)
	}
	strace := needStrace(t)
	src := fixtures.Fixture("models", "tiny-st")
	want := snapshotFiles(t, src)
	require.Greater(t, len(want), 2)

	kills := 0
	for _, call := range []string{"unlinkat", "renameat"} {
		for n := 1; ; n++ {
			cache := models.Cache{Dir: t.TempDir()}
			modelstest.Cache(t, cache.Dir, id, src)
			cmd := exec.Command(strace, "-f", "-qq", "-o", os.DevNull, "-e", "trace="+call,
				"-e", fmt.Sprintf("inject=%s:signal=KILL:when=%d", call, n),
				os.Args[0], "-test.run=^TestRemoveKilledAtEveryStep$")
			cmd.Env = append(os.Environ(), "REMOVE_KILL_CACHE="+cache.Dir)
			out, err := cmd.CombinedOutput()
			if err == nil {
				break // fewer than n such calls: the removal ran to its end
			}
			kills++
			what := fmt.Sprintf("killed at %s #%d", call, n)
			checkCacheWhole(t, cache, id, want, what)

			_, _, err = cache.Remove(id)
			if err != nil {
				require.ErrorIs(t, err, models.ErrNotCached, "%s: rerun: %s", what, out)
			}
			repo, _ := cache.RepoDir(id)
			assert.NoDirExists(t, repo, "%s: the rerun finishes the removal", what)
			_, err = cache.Locate(id, "")
			assert.ErrorIs(t, err, models.ErrNotCached, what)
			if t.Failed() {
				return
			}
		}
	}
	t.Logf("the removal was killed at %d steps", kills)
	assert.Greater(t, kills, 5, "the removal was killed at a handful of steps at least")
}

// snapshotFiles lists the files of a model folder with their sizes.
func snapshotFiles(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	files := map[string]int64{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		st, err := os.Stat(p) // through links
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = st.Size()
		return nil
	}))
	return files
}

// checkCacheWhole asserts that every ref of id names a whole snapshot,
// every snapshot folder is whole, and a load by name finds either a model
// that verifies or nothing.
func checkCacheWhole(t *testing.T, c models.Cache, id string, want map[string]int64, what string) {
	t.Helper()
	repo, err := c.RepoDir(id)
	require.NoError(t, err)
	snaps, err := os.ReadDir(filepath.Join(repo, "snapshots"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		require.NoError(t, err, what)
	}
	for _, s := range snaps {
		assert.Equal(t, want, snapshotFiles(t, filepath.Join(repo, "snapshots", s.Name())), "%s: snapshot %s is not whole", what, s.Name())
	}
	_ = filepath.WalkDir(filepath.Join(repo, "refs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err, what)
		commit := strings.TrimSpace(string(b))
		assert.DirExists(t, filepath.Join(repo, "snapshots", commit), "%s: %s names a snapshot that is gone", what, p)
		return nil
	})
	listed, err := c.List()
	require.NoError(t, err, what)
	var ids []string
	for _, r := range listed {
		ids = append(ids, r.ID)
	}
	if len(snaps) == 0 {
		assert.NotContains(t, ids, id, "%s: `models list` shows a repo with no snapshot left", what)
	} else {
		assert.Contains(t, ids, id, what)
	}
	_, files, err := c.Verify(id, "")
	if errors.Is(err, models.ErrNotCached) {
		return
	}
	require.NoError(t, err, what)
	assert.Len(t, files, len(want), what)
	for _, f := range files {
		assert.Equal(t, "ok", f.Status, "%s: %s", what, f.Path)
	}
}

package models_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/models"
	"github.com/hybridembed/hybridembed/models/modelstest"
)

// TestPullReplacesDamagedBlob: a blob cut short, emptied or grown (a disk
// that filled, a copy interrupted) is downloaded again by the next pull
// and replaced, where the old pull, finding a blob under the lock, took
// it as it was.
func TestPullReplacesDamagedBlob(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"empty", func([]byte) []byte { return nil }},
		{"longer", func(b []byte) []byte { return append(b, "trailing garbage"...) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, cache, d := newHub(t)
			s.Host(t, xenova, fixtures.Fixture("models", "tiny-clip"))
			loc, err := d.Pull(context.Background(), xenova, models.PullOptions{})
			require.NoError(t, err)
			link := filepath.Join(loc.Dir, "onnx", "vision_model.onnx")
			blob, err := filepath.EvalSymlinks(link)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(blob, c.damage(mustReadFile(t, blob)), 0o644))

			before := s.Count("/cdn/")
			_, err = d.Pull(context.Background(), xenova, models.PullOptions{})
			require.NoError(t, err)
			assert.Equal(t, 1, s.Count("/cdn/")-before, "the damaged blob alone is fetched again")
			sameBytes(t, link, fixtures.Fixture("models", "tiny-clip", "onnx", "vision_model.onnx"))
			verifyOK(t, cache, xenova)
		})
	}
}

// verifyOK asserts that every file of id's snapshot verifies.
func verifyOK(t *testing.T, c models.Cache, id string) {
	t.Helper()
	_, files, err := c.Verify(id, "")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		assert.Equal(t, "ok", f.Status, f.Path)
	}
}

// TestCacheErrorsKeepTheirCause: a cache that cannot be read is not a
// model that is not cached: the cause comes through (errors.Is), and the
// message does not send the user to `models pull`.
func TestCacheErrorsKeepTheirCause(t *testing.T) {
	s, c, d := newHub(t)
	s.Host(t, xenova, fixtures.Fixture("models", "tiny-clip"))
	_, err := d.Pull(context.Background(), xenova, models.PullOptions{})
	require.NoError(t, err)
	repo := filepath.Join(c.Dir, "models--Xenova--clip-vit-base-patch32")

	// refs/ replaced by a file: reading refs/main fails with ENOTDIR.
	require.NoError(t, os.RemoveAll(filepath.Join(repo, "refs")))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "refs"), []byte("not a folder"), 0o644))
	for _, id := range []string{xenova, "openai/clip-vit-base-patch32"} { // directly, and through the registry
		_, err = c.Locate(id, "")
		require.Error(t, err, id)
		assert.NotErrorIs(t, err, models.ErrNotCached, id)
		assert.Contains(t, err.Error(), "not a directory", id)
	}

	// What is missing still reads as not cached.
	_, err = c.Locate("acme/absent", "")
	assert.ErrorIs(t, err, models.ErrNotCached)
}

// TestRemoveFinishesHalfDoneRemoval: each state a removal cut short can
// leave (refs gone; snapshots detached; blobs alone) reads as not cached
// by name, `models list` shows no repo without a snapshot, and Remove
// finishes the job. (TestRemoveKilledAtEveryStep makes these states by
// killing a real removal, where strace can.)
func TestRemoveFinishesHalfDoneRemoval(t *testing.T) {
	const id = "acme/tiny-st"
	for _, c := range []struct {
		name   string
		cut    func(t *testing.T, repo string)
		listed bool
	}{
		{"refs gone", func(t *testing.T, repo string) {
			require.NoError(t, os.RemoveAll(filepath.Join(repo, "refs")))
		}, true},
		{"snapshots detached", func(t *testing.T, repo string) {
			require.NoError(t, os.RemoveAll(filepath.Join(repo, "refs")))
			require.NoError(t, os.Mkdir(filepath.Join(repo, ".removing"), 0o755))
			require.NoError(t, os.Rename(filepath.Join(repo, "snapshots"), filepath.Join(repo, ".removing", "s")))
		}, false},
		{"blobs alone", func(t *testing.T, repo string) {
			require.NoError(t, os.RemoveAll(filepath.Join(repo, "refs")))
			require.NoError(t, os.RemoveAll(filepath.Join(repo, "snapshots")))
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cache := models.Cache{Dir: t.TempDir()}
			modelstest.Cache(t, cache.Dir, id, fixtures.Fixture("models", "tiny-st"))
			repo, err := cache.RepoDir(id)
			require.NoError(t, err)
			c.cut(t, repo)

			_, err = cache.Locate(id, "")
			assert.ErrorIs(t, err, models.ErrNotCached)
			listed, err := cache.List()
			require.NoError(t, err)
			assert.Equal(t, c.listed, len(listed) == 1, "listed: %v", listed)

			_, freed, err := cache.Remove(id)
			require.NoError(t, err)
			assert.Positive(t, freed)
			assert.NoDirExists(t, repo)
		})
	}
}

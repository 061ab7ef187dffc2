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

package hybridembed_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/models/modelstest"
)

// TestUnreadableCacheIsNotNotCached: a cache the Embedder cannot read
// (refs/ is a file here; a permission error takes the same path) gives a
// model whose local error is that cause: not ErrNotCached, and no advice
// to pull a model that may well be there. Local calls fail with it.
func TestUnreadableCacheIsNotNotCached(t *testing.T) {
	hub := t.TempDir()
	modelstest.Cache(t, hub, "acme/tiny-clip", tinyClip)
	refs := filepath.Join(hub, "models--acme--tiny-clip", "refs")
	require.NoError(t, os.RemoveAll(refs))
	require.NoError(t, os.WriteFile(refs, []byte("damaged"), 0o644))
	e := newEmbedder(t, hybridembed.WithHubCache(hub))

	m, err := e.Model(context.Background(), "acme/tiny-clip")
	require.NoError(t, err, "a handle, as for a model that is not cached")
	cached, cerr := m.Cached()
	assert.False(t, cached)
	for _, err := range []error{cerr, func() error { _, err := m.EmbedImages(context.Background(), images(1)); return err }()} {
		require.Error(t, err)
		assert.NotErrorIs(t, err, hybridembed.ErrNotCached)
		assert.Contains(t, err.Error(), "not a directory")
		assert.NotContains(t, err.Error(), "models pull")
	}

	// A model that is not there still says so, with the command.
	m, err = e.Model(context.Background(), "acme/absent")
	require.NoError(t, err)
	cached, cerr = m.Cached()
	assert.False(t, cached)
	assert.NoError(t, cerr, "not cached is an answer, not an error")
	err = m.Load(context.Background())
	assert.ErrorIs(t, err, hybridembed.ErrNotCached)
	assert.Contains(t, err.Error(), "models pull")
}

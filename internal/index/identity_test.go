package index

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
)

// TestIdentityDecidesReuse: vectors are reused only under the same Key; an
// index from before Keys (schema 1, a graph-only digest) is migrated and its
// vectors are not taken for the model's.
func TestIdentityDecidesReuse(t *testing.T) {
	ctx := context.Background()
	emb, model := tinyModel(t)
	lib := t.TempDir()
	makeLibrary(t, lib, 4)
	ix := openAt(t, lib)
	st, err := ix.Update(ctx, model, emb, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	require.Equal(t, 4, st.Embedded)

	fast, fastModel := tinyModel(t, hybridembed.WithDecode(hybridembed.DecodeFast))
	require.NotEqual(t, model.Key, fastModel.Key)
	st, err = ix.Update(ctx, fastModel, fast, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, 4, st.Embedded, "another decode mode is another model")

	// Back to schema 1: the column was digest, and held the graphs' digest.
	_, err = ix.db.Exec(`DELETE FROM models WHERE id != (SELECT min(id) FROM models);
		DROP INDEX models_key; ALTER TABLE models RENAME COLUMN key TO digest;
		UPDATE models SET digest = ?; PRAGMA user_version = 1`, emb.m.Info().Digest)
	require.NoError(t, err)
	path, root := ix.Path(), ix.root
	require.NoError(t, ix.Close())
	ix, err = Open(ctx, path, root)
	require.NoError(t, err)
	defer ix.Close()
	st, err = ix.Update(ctx, model, emb, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, 4, st.Unchanged)
	assert.Equal(t, 4, st.Embedded, "a version-1 row's vectors are not this model's")
	assert.Equal(t, 2, count(t, ix, `SELECT count(*) FROM models`))
}

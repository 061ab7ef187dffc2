package index

import (
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/local/imageprep"
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

// TestJPEGDecoderIsIdentity: libjpeg-turbo and Go's image/jpeg decode the
// same JPEG to pixels a few levels apart (another IDCT and upsampling), so
// vectors made under one are another model's under the other: an index
// made with libjpeg-turbo re-embeds when the process decodes with Go's
// ($HYBRIDEMBED_JPEG=go, a machine without the library), as it does for
// another decode mode. Before, the Key left the decoder out and the old
// vectors were kept.
func TestJPEGDecoderIsIdentity(t *testing.T) {
	if name, why := imageprep.JPEGDecoder(); name != imageprep.JPEGTurbo {
		t.Skipf("libjpeg-turbo does not load here: %v", why)
	}
	ctx := context.Background()
	emb, model := tinyModel(t)
	require.Equal(t, hybridembed.JPEGTurbo, emb.m.Info().JPEGDecoder)
	lib := t.TempDir()
	for i := range 3 {
		writeJPEG(t, filepath.Join(lib, fmt.Sprintf("p%d.jpg", i)), uint64(i))
	}
	ix := openAt(t, lib)
	st, err := ix.Update(ctx, model, emb, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	require.Equal(t, 3, st.Embedded)
	turboVec := firstVector(t, emb, filepath.Join(lib, "p0.jpg"))

	require.NoError(t, imageprep.SetJPEGDecoder(imageprep.JPEGGo))
	t.Cleanup(func() { _ = imageprep.SetJPEGDecoder("") })
	goEmb, goModel := tinyModel(t)
	assert.Equal(t, hybridembed.JPEGGo, goEmb.m.Info().JPEGDecoder)
	assert.NotEqual(t, turboVec, firstVector(t, goEmb, filepath.Join(lib, "p0.jpg")), "the decoders give other vectors")
	require.NotEqual(t, model.Key, goModel.Key)
	assert.Contains(t, goEmb.m.Info().Diff(emb.m.Info()), "JPEG decoder libjpeg-turbo then, go now")
	st, err = ix.Update(ctx, goModel, goEmb, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, 3, st.Embedded, "another JPEG decoder is another model")
}

// writeJPEG writes a small JPEG whose pixels depend on seed.
func writeJPEG(t *testing.T, path string, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 11))
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, jpeg.Encode(f, img, &jpeg.Options{Quality: 90}))
	require.NoError(t, f.Close())
}

// firstVector embeds one image file.
func firstVector(t *testing.T, c *counting, path string) []float32 {
	t.Helper()
	var out []float32
	require.NoError(t, c.m.EmbedImagesFunc(context.Background(), []hybridembed.Image{hybridembed.ImageFile(path)}, func(_ int, e hybridembed.Embedding, err error) error {
		require.NoError(t, err)
		out = e.Vector
		return nil
	}))
	return out
}

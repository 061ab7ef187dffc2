package index

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/internal/library"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// between runs before passes images to the model: the moment after Update
// hashed the files and before the model reads them.
type between struct {
	*counting
	before func()
}

func (b *between) EmbedImagesFunc(ctx context.Context, images []hybridembed.Image, fn func(int, hybridembed.Embedding, error) error) error {
	b.before()
	b.before = func() {}
	return b.counting.EmbedImagesFunc(ctx, images, fn)
}

func decodeVector(blob []byte) []float32 {
	v := make([]float32, len(blob)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(blob[4*i:]))
	}
	return v
}

// TestChangedBetweenHashAndEmbed: a file rewritten after it was hashed
// gets the vector of the bytes the model read, under their hash, and its
// row follows them; a file deleted meanwhile stores nothing (no failure
// filed under a content nobody read), so it is embedded once it is back.
func TestChangedBetweenHashAndEmbed(t *testing.T) {
	c, model := tinyModel(t)
	ctx := context.Background()
	lib := t.TempDir()
	rewritten, deleted := filepath.Join(lib, "a.png"), filepath.Join(lib, "b.png")
	writeImage(t, rewritten, 1)
	writeImage(t, deleted, 2)
	writeImage(t, filepath.Join(lib, "c.png"), 3)
	oldBytes, err := os.ReadFile(rewritten)
	require.NoError(t, err)
	deletedBytes, err := os.ReadFile(deleted)
	require.NoError(t, err)
	ix := openAt(t, lib)

	emb := &between{counting: c, before: func() {
		writeImage(t, rewritten, 100)
		require.NoError(t, os.Remove(deleted))
	}}
	var failures []string
	st, err := ix.Update(ctx, model, emb, []string{lib}, UpdateOptions{Failed: func(p string, err error) { failures = append(failures, p) }})
	require.NoError(t, err)
	assert.Equal(t, []string{deleted}, failures)
	assert.Equal(t, 1, st.Failed)

	newBytes, err := os.ReadFile(rewritten)
	require.NoError(t, err)
	want, err := c.m.EmbedImages(ctx, []hybridembed.Image{hybridembed.ImageFile(rewritten)})
	require.NoError(t, err)
	newSum, oldSum := sha256.Sum256(newBytes), sha256.Sum256(oldBytes)
	var blob []byte
	require.NoError(t, ix.db.QueryRow(`SELECT vector FROM vectors WHERE hash = ?`, newSum[:]).Scan(&blob))
	assert.InDeltaSlice(t, want[0].Vector, decodeVector(blob), 1e-6)
	assert.Zero(t, count(t, ix, `SELECT count(*) FROM vectors WHERE hash = ?`, oldSum[:]), "a vector under the hash of bytes the model never read")
	assert.Equal(t, 1, count(t, ix, `SELECT count(*) FROM files WHERE path = 'a.png' AND hash = ?`, newSum[:]))
	assert.Zero(t, count(t, ix, `SELECT count(*) FROM vectors WHERE error IS NOT NULL`), "a failure filed for the deleted file's contents")

	// Next run: a.png is unchanged (its row has the embedded bytes' size
	// and time), b.png is gone, and once back is embedded.
	st, err = ix.Update(ctx, model, c, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, Stats{Unchanged: 2, Removed: 1}, st)
	require.NoError(t, os.WriteFile(deleted, deletedBytes, 0o644))
	st, err = ix.Update(ctx, model, c, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, st.New)
	assert.Equal(t, 1, st.Embedded, "the deleted file's contents were marked failed")
}

// TestUpdateMissingPathChangesNothing: a path that cannot be stat'ed stops
// the update before any row changes.
func TestUpdateMissingPathChangesNothing(t *testing.T) {
	c, model := tinyModel(t)
	ctx := context.Background()
	lib := t.TempDir()
	makeLibrary(t, lib, 10)
	ix := openAt(t, lib)
	_, err := ix.Update(ctx, model, c, []string{lib}, UpdateOptions{})
	require.NoError(t, err)

	require.NoError(t, os.RemoveAll(filepath.Join(lib, "d1")))
	_, err = ix.Update(ctx, model, c, []string{lib, filepath.Join(lib, "d1")}, UpdateOptions{})
	var argErr *library.ArgError
	require.ErrorAs(t, err, &argErr)
	assert.Equal(t, filepath.Join(lib, "d1"), argErr.Path)
	assert.Equal(t, 10, count(t, ix, `SELECT count(*) FROM files`))
	assert.Equal(t, 10, count(t, ix, `SELECT count(*) FROM vectors`))

	// Without the missing argument, the walk of lib is complete: d1's two
	// photos are proven gone.
	st, err := ix.Update(ctx, model, c, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, 2, st.Removed)
	assert.Equal(t, 8, count(t, ix, `SELECT count(*) FROM vectors`))
}

func TestUnder(t *testing.T) {
	for _, c := range []struct {
		rel  string
		dirs []string
		want bool
	}{
		{"a/b.png", []string{"a"}, true},
		{"a", []string{"a"}, true},
		{"ab/c.png", []string{"a"}, false},
		{"a/b/c.png", []string{"x", "a/b"}, true},
		{"a/bc/d.png", []string{"a/b"}, false},
		{"b.png", []string{"."}, true},
		{"../out/b.png", []string{"."}, false},
		{"../out/b.png", []string{"../out"}, true},
		{"a/b.png", nil, false},
	} {
		assert.Equal(t, c.want, under(c.rel, c.dirs), "%s under %v", c.rel, c.dirs)
	}
}

// TestHiddenAndUnsupportedRows: rows under folders the walk now leaves out
// as hidden or clutter (an index made before it skipped them, or with
// --include-hidden) are purged and counted apart; rows of photos the walk
// finds but cannot decode here (HEIC on a machine without libheif, an
// index shared by a synced folder) are kept as they were, vectors and all.
func TestHiddenAndUnsupportedRows(t *testing.T) {
	emb, model := tinyModel(t)
	ctx := context.Background()
	lib := t.TempDir()
	makeLibrary(t, lib, 4)
	writeImage(t, filepath.Join(lib, ".thumbnails", "normal", "t1.png"), 101)
	writeImage(t, filepath.Join(lib, "@eaDir", "img0001.png", "SYNOFILE_THUMB_S.png"), 102)
	writeImage(t, filepath.Join(lib, ".mine", "secret.png"), 103)
	heic := filepath.Join(lib, "phone", "IMG_0001.heic")
	require.NoError(t, os.MkdirAll(filepath.Dir(heic), 0o755))
	data, err := os.ReadFile(fixtures.Fixture("heif", "orient_6.heic"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(heic, data, 0o644))
	withHEIF := library.Options{IncludeHidden: true, Available: func(imageprep.Format) error { return nil }}
	if imageprep.Available(imageprep.HEIF) != nil {
		t.Skip("skipping: libheif cannot decode HEIC here")
	}

	ix := openAt(t, lib)
	st, err := ix.Update(ctx, model, emb, []string{lib}, UpdateOptions{Walk: withHEIF})
	require.NoError(t, err)
	require.Zero(t, st.Failed)
	assert.Equal(t, 8, st.New)
	assert.Equal(t, 8, count(t, ix, `SELECT count(*) FROM vectors`))

	// The default walk, on a machine without libheif.
	noHEIF := library.Options{Available: func(f imageprep.Format) error {
		if f == imageprep.HEIF {
			return errors.New("libheif is not installed")
		}
		return nil
	}}
	st, err = ix.Update(ctx, model, emb, []string{lib}, UpdateOptions{Walk: noHEIF})
	require.NoError(t, err)
	assert.Equal(t, 3, st.Excluded, "the two clutter folders' thumbnails and the hidden folder's photo")
	assert.Equal(t, 3, st.Removed)
	assert.Equal(t, 1, st.Unsupported)
	assert.Equal(t, 4, st.Unchanged)
	assert.Zero(t, st.Kept+st.Failed+st.Embedded)
	assert.Equal(t, 1, st.Skipped.HiddenFolders)
	assert.Equal(t, 2, st.Skipped.ClutterFolders)
	assert.Equal(t, 1, st.Skipped.UnsupportedFiles())
	assert.Equal(t, 5, count(t, ix, `SELECT count(*) FROM files`))
	assert.Equal(t, 1, count(t, ix, `SELECT count(*) FROM files WHERE path = 'phone/IMG_0001.heic'`))
	assert.Equal(t, 5, count(t, ix, `SELECT count(*) FROM vectors`), "the HEIC's vector stays")

	// Gone for real, it goes, libheif or not.
	require.NoError(t, os.Remove(heic))
	st, err = ix.Update(ctx, model, emb, []string{lib}, UpdateOptions{Walk: noHEIF})
	require.NoError(t, err)
	assert.Equal(t, 1, st.Removed)
	assert.Zero(t, st.Unsupported+st.Excluded)
	assert.Equal(t, 4, count(t, ix, `SELECT count(*) FROM files`))
}

// TestOrphanVectorsPurged: vectors of contents no file row has any more
// (a file deleted, a file changed) go from the index, even when the run
// that dropped the rows stops before its end (here cancelled just before
// embedding, as a kill would; before, the purge ran only at the end of a
// run that saw the change, so the next run, seeing nothing removed or
// changed, kept them for good and the index grew; an import over a row
// never dropped the old contents' vector). Vectors of contents a remaining
// file still has, a duplicate's or an imported row's, stay.
func TestOrphanVectorsPurged(t *testing.T) {
	c, model := tinyModel(t)
	ctx := context.Background()
	lib := t.TempDir()
	for i := range 4 {
		writeImage(t, filepath.Join(lib, fmt.Sprintf("p%d.png", i)), uint64(i))
	}
	dup := filepath.Join(lib, "dup.png") // p0's contents
	data, err := os.ReadFile(filepath.Join(lib, "p0.png"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dup, data, 0o644))
	ix := openAt(t, lib)
	_, err = ix.Update(ctx, model, c, []string{lib}, UpdateOptions{})
	require.NoError(t, err)

	// An imported row, for a file that is in the library.
	imported := filepath.Join(lib, "imported.png")
	writeImage(t, imported, 99)
	idata, err := os.ReadFile(imported)
	require.NoError(t, err)
	info, err := os.Stat(imported)
	require.NoError(t, err)
	sum := sha256.Sum256(idata)
	_, err = ix.Import(ctx, model, []Imported{{Path: imported, Size: info.Size(), Mtime: info.ModTime().UnixNano(), Hash: sum[:], Vector: make([]float32, model.Dim)}})
	require.NoError(t, err)
	require.Equal(t, 5, count(t, ix, `SELECT count(*) FROM vectors`))

	orphans := func() int {
		return count(t, ix, `SELECT count(*) FROM vectors WHERE hash NOT IN (SELECT hash FROM files)`)
	}
	require.NoError(t, os.Remove(filepath.Join(lib, "p0.png"))) // its contents live on in dup.png
	require.NoError(t, os.Remove(filepath.Join(lib, "p1.png")))
	writeImage(t, filepath.Join(lib, "p2.png"), 200) // changed
	stop, cancel := context.WithCancel(ctx)
	_, err = ix.Update(stop, model, &between{counting: c, before: cancel}, []string{lib}, UpdateOptions{})
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, orphans(), "vectors left with no file when the run stopped")

	st, err := ix.Update(ctx, model, c, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, 1, st.Embedded, "p2.png's new contents")
	assert.Zero(t, orphans(), "vectors no file has")
	assert.Equal(t, 4, count(t, ix, `SELECT count(*) FROM vectors`), "p0 (dup.png), p2's new contents, p3, imported")
	assert.Equal(t, 1, count(t, ix, `SELECT count(*) FROM vectors WHERE hash = ?`, sum[:]), "the imported vector")

	// An import that gives p3.png other contents drops the old ones' vector.
	other := sha256.Sum256([]byte("other contents"))
	_, err = ix.Import(ctx, model, []Imported{{Path: filepath.Join(lib, "p3.png"), Size: 1, Mtime: 1, Hash: other[:], Vector: make([]float32, model.Dim)}})
	require.NoError(t, err)
	assert.Zero(t, orphans(), "the replaced row's vector")
	assert.Equal(t, 4, count(t, ix, `SELECT count(*) FROM vectors`))
}

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// TestWalkInCommands: index, search and embed leave out hidden folders
// and OS clutter and say so, --include-hidden takes them, linked folders
// are followed and a link loop is reported, HEIC photos are embedded, and
// rows of what is now skipped leave the index with a note saying why.
func TestWalkInCommands(t *testing.T) {
	isolate(t)
	if err := imageprep.Available(imageprep.HEIF); err != nil {
		t.Skipf("skipping: %v", err)
	}
	model := fixtures.Fixture("models", "tiny-clip")
	lib := sampleLibrary(t)
	png, err := os.ReadFile(fixtures.Fixture("images", "red_circle.png"))
	require.NoError(t, err)
	heic, err := os.ReadFile(fixtures.Fixture("heif", "orient_6.heic"))
	require.NoError(t, err)
	writeFile(t, filepath.Join(lib, ".thumbnails", "normal", "t.png"), png)
	writeFile(t, filepath.Join(lib, "@eaDir", "red_circle.png", "SYNOFILE_THUMB_M.png"), png)
	writeFile(t, filepath.Join(lib, "._red_circle.png"), []byte("\x00\x05\x16\x07AppleDouble"))
	writeFile(t, filepath.Join(lib, "phone", "IMG_0001.HEIC"), heic)
	trip := filepath.Join(t.TempDir(), "trip")
	writeFile(t, filepath.Join(trip, "beach.png"), png)
	require.NoError(t, os.Symlink(trip, filepath.Join(lib, "trip")))
	require.NoError(t, os.Symlink("..", filepath.Join(lib, "more", "up")))

	r := runCLI(t, "", "embed", "--model", model, lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	var got []string
	for _, rec := range records(t, r.stdout) {
		rel, _ := filepath.Rel(lib, rec["path"].(string))
		got = append(got, filepath.ToSlash(rel))
		assert.NotEmpty(t, rec["embedding"], rel)
	}
	assert.Equal(t, []string{"blue_square.png", "green_triangle.jpg", "more/copy of blue.png", "phone/IMG_0001.HEIC",
		"red_circle.png", "trip/beach.png", "yellow_star.jpg"}, got)
	assert.Contains(t, r.stderr, "hybridembed: skipped 2 OS clutter folders (thumbnails, trash, NAS metadata), "+
		"1 AppleDouble or NAS thumbnail file (--include-hidden walks them); 1 link to a folder it is in, not followed: "+filepath.Join(lib, "more", "up"))

	r = runCLI(t, "", "index", "--model", model, "--include-hidden", lib)
	require.Equal(t, exitPartial, r.code, r.stderr) // the AppleDouble file is no image
	assert.Contains(t, r.stderr, "._red_circle.png: ")
	assert.Contains(t, r.stderr, "10 new, 0 changed, 0 renamed, 0 unchanged, 0 removed, 1 failed")

	r = runCLI(t, "", "index", "--model", model, lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "0 new, 0 changed, 0 renamed, 7 unchanged, 3 removed, 0 failed "+
		"(3 of the removed are hidden or OS clutter, now skipped: --include-hidden keeps them)")
	assert.Contains(t, r.stderr, "hybridembed: skipped 2 OS clutter folders")

	r = runCLI(t, "", "search", "--model", model, "--paths", "-q", "a red circle", "-k", "20", lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "thumbnails")
	assert.Contains(t, r.stdout, "IMG_0001.HEIC")

	// A folder whose only images are hidden: no index, and why.
	only := t.TempDir()
	writeFile(t, filepath.Join(only, ".cache", "a.png"), png)
	r = runCLI(t, "", "index", "--model", model, only)
	assert.Equal(t, exitFatal, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no images found in "+only+" (no index was made); skipped 1 hidden folder (--include-hidden walks them)")
	assert.NoDirExists(t, filepath.Join(only, ".hybridembed"))
	r = runCLI(t, "", "embed", "--model", model, only)
	assert.Equal(t, exitFatal, r.code, r.stderr)
	assert.Contains(t, r.stderr, "skipped 1 hidden folder")
}

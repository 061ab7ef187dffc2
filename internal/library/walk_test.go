package library

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/local/imageprep"
)

func write(t *testing.T, path string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte("x"), 0o644))
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.jpg"))
	require.NoError(t, Check([]string{dir, filepath.Join(dir, "a.jpg")}))

	missing, typo := filepath.Join(dir, "2024"), filepath.Join(dir, "Pictres")
	err := Check([]string{dir, missing, typo})
	require.Error(t, err)
	var ae ArgErrors
	require.ErrorAs(t, err, &ae)
	require.Len(t, ae, 2)
	assert.Equal(t, missing, ae[0].Path)
	assert.Equal(t, typo, ae[1].Path)
	assert.ErrorIs(t, err, os.ErrNotExist)
	var one *ArgError
	require.ErrorAs(t, err, &one)
	assert.Equal(t, missing+": no such file or directory; "+typo+": no such file or directory", err.Error())
}

func TestHasImage(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.Mkdir(empty, 0o755))
	write(t, filepath.Join(dir, "notes", "readme.txt"))
	write(t, filepath.Join(dir, "state", StateDir, "thumb.jpg")) // the index's own folder is not the library
	write(t, filepath.Join(dir, "photos", "deep", "er", "IMG_1.JPG"))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "dangling"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(dir, "nowhere.jpg"), filepath.Join(dir, "dangling", "x.jpg")))

	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{empty}, false},
		{[]string{filepath.Join(dir, "notes")}, false},
		{[]string{filepath.Join(dir, "state")}, false},
		{[]string{filepath.Join(dir, "dangling")}, false},
		{[]string{filepath.Join(dir, "missing")}, false},
		{[]string{empty, filepath.Join(dir, "photos")}, true},
		{[]string{filepath.Join(dir, "notes", "readme.txt")}, true}, // a file named is taken whatever its name
		{[]string{dir}, true},
	} {
		assert.Equal(t, c.want, HasImage(c.args), "%v", c.args)
	}
}

// noHEIF is a machine without libheif.
func noHEIF(f imageprep.Format) error {
	if f == imageprep.HEIF || f == imageprep.AVIF {
		return errors.New("libheif is not installed; install it with scripts/install-libheif.sh")
	}
	return nil
}

func paths(files []File, root string) []string {
	out := []string{}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f.Path)
		out = append(out, filepath.ToSlash(rel))
	}
	return out
}

// TestWalkSkips: hidden folders and files, OS and NAS clutter and the
// index's own folder are left out and counted, photos that cannot be
// decoded here are counted as unsupported, and --include-hidden brings
// the first back.
func TestWalkSkips(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{
		"a.jpg", "2024/b.JPEG", "2024/c.heic", "2024/d.CR2", "2024/e.avif",
		".hidden/x.jpg", ".secret.jpg", "2024/.cache/thumb/t.png",
		"@eaDir/a.jpg/SYNOFILE_THUMB_M.jpg", ".Trash-1000/files/y.jpg", "$RECYCLE.BIN/S-1-5/z.jpg",
		".thumbnails/normal/abc.png", "__MACOSX/2024/._b.JPEG", "#recycle/old.jpg",
		"._a.jpg", ".DS_Store", "Thumbs.db", "notes.txt", "video.mp4",
		StateDir + "/gallery/thumb.jpg",
	} {
		write(t, filepath.Join(dir, p))
	}

	r := Options{Available: noHEIF}.Walk([]string{dir})
	assert.Empty(t, r.Problems)
	assert.Equal(t, []string{"2024/b.JPEG", "a.jpg"}, paths(r.Files, dir))
	s := r.Skipped
	assert.Equal(t, 2, s.HiddenFolders, ".hidden, 2024/.cache")
	assert.Equal(t, 1, s.HiddenFiles, ".secret.jpg")
	assert.Equal(t, 6, s.ClutterFolders, "@eaDir, .Trash-1000, $RECYCLE.BIN, .thumbnails, __MACOSX, #recycle")
	assert.Equal(t, 1, s.ClutterFiles, "._a.jpg (.DS_Store and Thumbs.db are no images: not counted)")
	require.Len(t, s.Unsupported, 3)
	assert.Equal(t, []string{".avif", ".cr2", ".heic"}, []string{s.Unsupported[0].Ext, s.Unsupported[1].Ext, s.Unsupported[2].Ext})
	assert.Contains(t, s.Unsupported[2].Why.Error(), "install-libheif.sh")
	assert.Equal(t, 3, s.UnsupportedFiles())
	var left []string
	for _, p := range s.Left {
		rel, _ := filepath.Rel(dir, p)
		left = append(left, filepath.ToSlash(rel))
	}
	sort.Strings(left)
	assert.Equal(t, []string{"#recycle", "$RECYCLE.BIN", ".Trash-1000", "._a.jpg", ".hidden", ".secret.jpg", ".thumbnails", "2024/.cache", "@eaDir", "__MACOSX"}, left)
	assert.Equal(t, "2 hidden folders, 1 hidden file, 6 OS clutter folders (thumbnails, trash, NAS metadata), "+
		"1 AppleDouble or NAS thumbnail file (--include-hidden walks them); "+
		"1 .avif file that cannot be decoded here: libheif is not installed; install it with scripts/install-libheif.sh; "+
		"1 .cr2 file that cannot be decoded here: no decoder here reads camera RAW files; "+
		"1 .heic file that cannot be decoded here: libheif is not installed; install it with scripts/install-libheif.sh", s.String())

	// With libheif, HEIC and AVIF are images like any other.
	r = Options{Available: func(imageprep.Format) error { return nil }}.Walk([]string{dir})
	assert.Equal(t, []string{"2024/b.JPEG", "2024/c.heic", "2024/e.avif", "a.jpg"}, paths(r.Files, dir))

	// --include-hidden: everything but the index's own folder.
	r = Options{Available: noHEIF, IncludeHidden: true}.Walk([]string{dir})
	assert.Equal(t, []string{
		"#recycle/old.jpg", "$RECYCLE.BIN/S-1-5/z.jpg", ".Trash-1000/files/y.jpg", "._a.jpg", ".hidden/x.jpg", ".secret.jpg",
		".thumbnails/normal/abc.png", "2024/.cache/thumb/t.png", "2024/b.JPEG", "@eaDir/a.jpg/SYNOFILE_THUMB_M.jpg",
		"__MACOSX/2024/._b.JPEG", "a.jpg",
	}, paths(r.Files, dir))
	assert.Equal(t, Skipped{Unsupported: r.Skipped.Unsupported}, r.Skipped)
	assert.Equal(t, []string{filepath.Join(dir, "2024", "c.heic")}, r.Skipped.Unsupported[2].Paths)

	// A hidden folder named as an argument is walked: it is what was asked for.
	r = Options{}.Walk([]string{filepath.Join(dir, ".hidden"), filepath.Join(dir, ".secret.jpg")})
	assert.Equal(t, []string{".hidden/x.jpg", ".secret.jpg"}, paths(r.Files, dir))
	assert.True(t, r.Skipped.Zero())
}

// TestWalkFollowsLinkedFolders: a link to a folder is walked as the
// folder; a link to a folder it is inside (directly, or through another
// link) is a loop: reported, not followed, and the walk ends.
func TestWalkFollowsLinkedFolders(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "lib")
	write(t, filepath.Join(dir, "elsewhere", "trip", "a.jpg"))
	write(t, filepath.Join(lib, "own.jpg"))
	write(t, filepath.Join(lib, "x", "b.jpg"))
	write(t, filepath.Join(lib, "y", "c.jpg"))
	link := func(target, name string) { require.NoError(t, os.Symlink(target, filepath.Join(lib, name))) }
	link(filepath.Join(dir, "elsewhere", "trip"), "trip")   // outside the library: followed
	link("..", "x/up")                                      // to its parent: a loop
	link(lib, "x/root")                                     // to the top, by absolute path: a loop
	link("../y", "x/to-y")                                  // x/to-y -> y, whose link leads back to x: a loop there
	link("../x", "y/to-x")                                  //
	link(filepath.Join(dir, "nowhere"), "dangling")         // nothing: ignored
	link(filepath.Join(lib, "own.jpg"), "x/same-photo.jpg") // to a file: taken under its own path

	r := Options{}.Walk([]string{lib})
	assert.Empty(t, r.Problems)
	assert.Equal(t, []string{
		"own.jpg", "trip/a.jpg", "x/b.jpg", "x/same-photo.jpg", "x/to-y/c.jpg", "y/c.jpg", "y/to-x/b.jpg", "y/to-x/same-photo.jpg",
	}, paths(r.Files, lib))
	for i := range r.Skipped.Loops {
		r.Skipped.Loops[i], _ = filepath.Rel(lib, r.Skipped.Loops[i])
	}
	sort.Strings(r.Skipped.Loops)
	assert.Equal(t, []string{"x/root", "x/to-y/to-x", "x/up", "y/to-x/root", "y/to-x/to-y", "y/to-x/up"}, r.Skipped.Loops)
	assert.Contains(t, r.Skipped.String(), "6 links to a folder they are in, not followed: ")
	assert.Contains(t, r.Skipped.String(), " and 3 more")

	// The top itself given through a link is walked as the folder it names.
	require.NoError(t, os.Symlink(lib, filepath.Join(dir, "lib-link")))
	r = Options{}.Walk([]string{filepath.Join(dir, "lib-link")})
	assert.Contains(t, paths(r.Files, dir), "lib-link/trip/a.jpg")
	assert.Len(t, r.Skipped.Loops, 6)
}

// TestHasImageSays: a folder with no image that can be used says what it
// left out, so that "no images" can name the reason.
func TestHasImageSays(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "IMG_0001.HEIC"))
	write(t, filepath.Join(dir, ".thumbnails", "a.png"))
	ok, s := Options{Available: noHEIF}.HasImage([]string{dir})
	assert.False(t, ok)
	assert.Equal(t, 1, s.UnsupportedFiles())
	assert.Equal(t, 1, s.ClutterFolders)
	ok, _ = Options{Available: func(imageprep.Format) error { return nil }}.HasImage([]string{dir})
	assert.True(t, ok)
	ok, _ = Options{Available: noHEIF, IncludeHidden: true}.HasImage([]string{dir})
	assert.True(t, ok)
}

// TestWalkProblems: a folder the walk cannot read is a problem, naming
// it, and the walk goes on. Root reads a chmod 000 folder, but no one
// lists a folder whose path is longer than PATH_MAX: the library is moved
// to where its deepest folder lies past it.
func TestWalkProblems(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "lib")
	write(t, filepath.Join(lib, "b", "2.jpg"))
	deep := filepath.Join(lib, "a")
	for room := 4096 - 100 - len(deep); room > 1; room = 4096 - 100 - len(deep) {
		deep = filepath.Join(deep, strings.Repeat("d", min(200, room-1)))
	}
	write(t, filepath.Join(deep, "1.jpg"))
	moved := lib + strings.Repeat("q", 250)
	require.NoError(t, os.Rename(lib, moved))
	t.Cleanup(func() { os.Rename(moved, lib) })
	r := Options{}.Walk([]string{moved})
	assert.Equal(t, []string{"b/2.jpg"}, paths(r.Files, moved))
	require.NotEmpty(t, r.Problems)
	assert.True(t, strings.HasPrefix(r.Problems[0].Path, filepath.Join(moved, "a")), r.Problems[0].Path)
	assert.ErrorIs(t, r.Problems[0].Err, syscall.ENAMETOOLONG)
}

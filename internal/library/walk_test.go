package library

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

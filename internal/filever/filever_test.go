package filever_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/filever"
)

// TestVersion: a file replaced by another of the same size with the same
// modification time (cp -p, rsync -t) is another version; an untouched
// file is the same one.
func TestVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	require.NoError(t, os.WriteFile(path, []byte("aaaa"), 0o644))
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, os.Chtimes(path, when, when))
	st, err := os.Stat(path)
	require.NoError(t, err)
	before := filever.Of(st)
	st, err = os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, before, filever.Of(st), "the same file, stat twice")

	other := filepath.Join(dir, "other")
	require.NoError(t, os.WriteFile(other, []byte("bbbb"), 0o644))
	require.NoError(t, os.Chtimes(other, when, when))
	require.NoError(t, os.Rename(other, path))
	st, err = os.Stat(path)
	require.NoError(t, err)
	after := filever.Of(st)
	assert.Equal(t, before.Size, after.Size)
	assert.Equal(t, before.ModTime, after.ModTime)
	if runtime.GOOS == "windows" {
		t.Skip("no inode on Windows: size and time alone tell versions apart there")
	}
	assert.NotEqual(t, before, after, "same size and time, another file")
}

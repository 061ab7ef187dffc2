//go:build unix

package models

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCopyFileMode: the snapshot copy made where symlinks are refused
// (huggingface_hub's fallback) has the blob's mode, 0666 less the umask
// (it was 0644 whatever the umask).
func TestCopyFileMode(t *testing.T) {
	old := syscall.Umask(0o002)
	defer syscall.Umask(old)
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "blob"), filepath.Join(dir, "copy")
	require.NoError(t, os.WriteFile(src, []byte("weights"), 0o600))
	require.NoError(t, copyFile(src, dst))
	st, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o664), st.Mode().Perm())
	data, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "weights", string(data))
	assert.Error(t, copyFile(src, dst), "never over an existing file")
}

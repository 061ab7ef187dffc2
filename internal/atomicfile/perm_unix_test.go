//go:build !windows

package atomicfile_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/atomicfile"
)

// TestModeIsUmasked checks that files are 0666 less the umask, as a plain
// create makes them (not os.CreateTemp's 0600), so a shared cache or dataset
// stays readable by the group.
func TestModeIsUmasked(t *testing.T) {
	for _, c := range []struct {
		umask int
		want  os.FileMode
	}{{0o022, 0o644}, {0o002, 0o664}, {0o077, 0o600}} {
		old := syscall.Umask(c.umask)
		path := filepath.Join(t.TempDir(), "refs-main")
		err := atomicfile.WriteFile(path, []byte("abc"))
		syscall.Umask(old)
		require.NoError(t, err)
		st, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, c.want, st.Mode().Perm(), "umask %03o", c.umask)
	}
}

// TestCommitNewWithoutNoReplace: on a file system with neither
// renameat2(RENAME_NOREPLACE) nor hard links (gcsfuse, s3fs, SMB, vfat),
// CommitNew still commits a new name, and still refuses a taken one.
func TestCommitNewWithoutNoReplace(t *testing.T) {
	defer atomicfile.WithoutNoReplace()()
	dir := t.TempDir()
	path := filepath.Join(dir, "part-00000-of-00001-00000.parquet")

	f, err := atomicfile.Create(path)
	require.NoError(t, err)
	_, _ = f.Write([]byte("committed"))
	require.NoError(t, f.CommitNew(), "a new name commits without renameat2 or links")

	g, err := atomicfile.Create(path)
	require.NoError(t, err)
	_, _ = g.Write([]byte("intruder"))
	err = g.CommitNew()
	require.ErrorIs(t, err, atomicfile.ErrExists)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "committed", string(got), "a committed file is never replaced")
	assert.Equal(t, []string{filepath.Base(path)}, entries(t, dir), "the refused temporary file is removed")
}

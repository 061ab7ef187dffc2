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

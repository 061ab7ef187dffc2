//go:build !windows

package atomicfile

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
	"golang.org/x/sys/unix"
)

type pending struct {
	*renameio.PendingFile
	path string // the target it was made for
}

func newPending(path string) (*pending, error) {
	pf, err := renameio.NewPendingFile(path,
		renameio.WithTempDir(filepath.Dir(path)), // never os.TempDir: the rename must stay on one file system
		renameio.WithPermissions(0o666))          // less the umask, as os.Create
	if err != nil {
		return nil, err
	}
	return &pending{pf, path}, nil
}

func (p *pending) commit(dest string, replace bool) error {
	if replace {
		// CloseAtomicallyReplace syncs, closes and renames over the
		// target it was made for; another name needs the same steps by
		// hand.
		if dest == p.path {
			return p.CloseAtomicallyReplace()
		}
		if err := p.Sync(); err != nil {
			return err
		}
		if err := p.File.Close(); err != nil {
			return err
		}
		return os.Rename(p.Name(), dest)
	}
	if err := p.Sync(); err != nil {
		return err
	}
	if err := p.File.Close(); err != nil {
		return err
	}
	return renameNoReplace(p.Name(), dest)
}

func (p *pending) cleanup() error { return p.Cleanup() }

// renameNoReplace renames old to new unless new exists. Linux has
// renameat2(RENAME_NOREPLACE); where the file system lacks it, and on other
// Unix systems, a hard link (which fails on an existing name) followed by
// removing the old name does the same.
func renameNoReplace(old, new string) error {
	err := renameat2NoReplace(old, new)
	if err == nil || !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.ENOTSUP) {
		if errors.Is(err, unix.EEXIST) {
			return &os.LinkError{Op: "rename", Old: old, New: new, Err: os.ErrExist}
		}
		return err
	}
	if err := os.Link(old, new); err != nil {
		return err
	}
	return os.Remove(old)
}

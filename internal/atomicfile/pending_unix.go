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
	return move(p.Name(), dest, false)
}

// move renames old to new, replacing new or refusing to.
func move(old, new string, replace bool) error {
	if replace {
		return os.Rename(old, new)
	}
	return renameNoReplace(old, new)
}

func (p *pending) cleanup() error { return p.Cleanup() }

// The system calls renameNoReplace makes, in variables so that a test can
// take away what some file systems lack.
var (
	renameat2 = renameat2NoReplace
	link      = os.Link
)

// renameNoReplace renames old to new unless new exists. Linux has
// renameat2(RENAME_NOREPLACE); where the file system lacks it, and on other
// Unix systems, a hard link (which fails on an existing name) followed by
// removing the old name does the same. Where there are no hard links either
// (FUSE mounts of object stores such as gcsfuse and s3fs, SMB without Unix
// extensions, vfat and exFAT), it looks for new and renames only if there
// is none: no longer one step, so it relies on the caller holding a lock
// that keeps other writers of new away (see [File.CommitNew]).
func renameNoReplace(old, new string) error {
	err := renameat2(old, new)
	switch {
	case errors.Is(err, unix.EEXIST):
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: os.ErrExist}
	case err == nil || !unsupported(err):
		return err
	}
	err = link(old, new)
	switch {
	case err == nil:
		return os.Remove(old)
	case !unsupported(err) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EMLINK):
		return err // EEXIST among them: new is taken
	}
	// vfat and exFAT say EPERM, FUSE file systems ENOSYS, SMB EOPNOTSUPP.
	if _, err := os.Lstat(new); err == nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: os.ErrExist}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Rename(old, new)
}

// unsupported reports whether err says the file system does not do the
// operation at all (rather than refusing it for these names).
func unsupported(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP)
}

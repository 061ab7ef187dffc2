package atomicfile

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// pending is the Windows temporary file: renameio does not build here, so
// the same steps use the standard library and MoveFileEx, which replaces
// the target in one step when asked to and refuses to when not.
type pending struct {
	*os.File
	path   string
	closed bool
}

func newPending(path string) (*pending, error) {
	dir, base := filepath.Split(path)
	for range 10000 {
		name := filepath.Join(dir, fmt.Sprintf(".%s%d", base, rand.Int64()))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if os.IsExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &pending{File: f, path: path}, nil
	}
	return nil, &os.PathError{Op: "tempfile", Path: path, Err: os.ErrExist}
}

func (p *pending) commit(dest string, replace bool) error {
	if err := p.Sync(); err != nil {
		return err
	}
	p.closed = true
	if err := p.File.Close(); err != nil { // Windows cannot rename an open file
		return err
	}
	return move(p.Name(), dest, replace)
}

// move renames old to new with MoveFileEx, replacing new or refusing to.
func move(old, new string, replace bool) error {
	from, err := windows.UTF16PtrFromString(old)
	if err != nil {
		return err
	}
	to, err := windows.UTF16PtrFromString(new)
	if err != nil {
		return err
	}
	flags := uint32(windows.MOVEFILE_WRITE_THROUGH)
	if replace {
		flags |= windows.MOVEFILE_REPLACE_EXISTING
	}
	if err := windows.MoveFileEx(from, to, flags); err != nil {
		if err == windows.ERROR_ALREADY_EXISTS || err == windows.ERROR_FILE_EXISTS {
			return &os.LinkError{Op: "rename", Old: old, New: new, Err: os.ErrExist}
		}
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
	}
	return nil
}

func (p *pending) cleanup() error {
	var err error
	if !p.closed {
		p.closed = true
		err = p.File.Close()
	}
	if rerr := os.Remove(p.Name()); rerr != nil && !os.IsNotExist(rerr) {
		return rerr
	}
	return err
}

package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExists is returned by [File.CommitNew] when the target already exists:
// a commit never replaces committed data it was not meant to.
var ErrExists = fs.ErrExist

// File is a pending write of one path. Write to it, then Commit (or
// CommitNew, or Keep); Abort drops it and is a no-op after a commit, so
// `defer f.Abort()` right after Create is always right.
//
// A File is not safe for concurrent use.
type File struct {
	path string
	tmp  *pending
	done bool
}

// Create starts a new write of path. The temporary file is created in
// path's folder, so that the rename cannot cross file systems.
func Create(path string) (*File, error) {
	tmp, err := newPending(path)
	if err != nil {
		// The temporary file's name is ours, not the user's: the error
		// names the file and the cause (a missing folder, a permission).
		var pe *fs.PathError
		if errors.As(err, &pe) {
			if errors.Is(pe.Err, fs.ErrNotExist) {
				return nil, fmt.Errorf("writing %s: the folder %s does not exist: %w", path, filepath.Dir(path), pe.Err)
			}
			return nil, fmt.Errorf("writing %s: %w", path, pe.Err)
		}
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return &File{path: path, tmp: tmp}, nil
}

// Path is the file being written.
func (f *File) Path() string { return f.path }

// TempName is the temporary file's name (for messages and tests).
func (f *File) TempName() string { return f.tmp.Name() }

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) {
	if f.done {
		return 0, fmt.Errorf("writing %s: %w", f.path, fs.ErrClosed)
	}
	return f.tmp.Write(p)
}

// Sync flushes what was written so far to disk, without committing: a
// writer of several files that belong together syncs each before it
// commits any, so that a full disk (which some file systems, NFS among
// them, report only here) fails the write before anything is replaced.
func (f *File) Sync() error {
	if f.done {
		return fmt.Errorf("writing %s: %w", f.path, fs.ErrClosed)
	}
	if err := f.tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	return nil
}

// Commit syncs the temporary file, renames it over the target and syncs the
// folder.
func (f *File) Commit() error {
	return f.finish(f.path, true)
}

// CommitNew is Commit for a target that must not exist yet (a dataset chunk,
// a content-named blob): if it does, nothing is replaced, the temporary file
// is removed and the error matches [ErrExists].
//
// The check and the rename are one step where the file system can do it
// (renameat2 with RENAME_NOREPLACE on Linux, a hard link elsewhere on Unix,
// MoveFileEx on Windows). Where it can do neither (FUSE mounts of object
// stores such as gcsfuse and s3fs, SMB without Unix extensions, vfat and
// exFAT), CommitNew looks for the target and renames only if there is none:
// a target that appears in between, made by another writer, is replaced.
// That weaker promise is enough for writers that hold a lock keeping others
// away from the name (a dataset shard's lock) or that write content-named
// files (whatever replaces one holds the same bytes).
func (f *File) CommitNew() error {
	return f.finish(f.path, false)
}

// Keep commits what was written under another name instead of the target
// (for example FILE.partial after an interrupted run), replacing that name;
// the target is left alone.
func (f *File) Keep(name string) error {
	return f.finish(name, true)
}

func (f *File) finish(dest string, replace bool) error {
	if f.done {
		return fmt.Errorf("writing %s: %w", dest, fs.ErrClosed)
	}
	err := f.tmp.commit(dest, replace)
	if err != nil {
		f.Abort()
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("writing %s: %w", dest, ErrExists)
		}
		return fmt.Errorf("writing %s: %w", dest, err)
	}
	f.done = true
	if err := SyncDir(filepath.Dir(dest)); err != nil {
		return fmt.Errorf("writing %s: %w", dest, err)
	}
	return nil
}

// Abort closes and removes the temporary file. It is a no-op once the file
// was committed or aborted, and safe to call many times.
func (f *File) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	return f.tmp.cleanup()
}

// Write writes path atomically with what fill writes to a buffered writer
// (whose errors are sticky: they surface at the flush, and fail the write).
func Write(path string, fill func(w *bufio.Writer) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := fill(w); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Commit()
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w *bufio.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Move puts a file that was committed elsewhere (a staging folder on the
// same file system) in place under new, replacing it, and syncs new's
// folder: the same last steps as Commit, for a file that had to be checked
// whole before it could go where readers look.
func Move(old, new string) error { return moveSynced(old, new, true) }

// MoveNew is Move for a new that must not exist yet, as [File.CommitNew]
// is Commit (with the same promise): if it does, nothing is replaced, old
// stays where it was, and the error matches [ErrExists].
func MoveNew(old, new string) error { return moveSynced(old, new, false) }

func moveSynced(old, new string, replace bool) error {
	if err := move(old, new, replace); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("moving %s into place: %w", new, ErrExists)
		}
		return fmt.Errorf("moving %s into place: %w", new, err)
	}
	if err := SyncDir(filepath.Dir(new)); err != nil {
		return fmt.Errorf("moving %s into place: %w", new, err)
	}
	return nil
}

// SyncDir flushes a folder's entries (a rename) to disk. File systems that
// cannot sync a folder (some network and Windows file systems) are not an
// error: the rename itself is what keeps the file whole.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = d.Sync()
	return nil
}

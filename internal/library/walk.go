// Package library finds the image files of a photo library: the files
// named, and the images under the folders named, in a stable order.
package library

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// StateDir is the folder an index keeps inside a library; walks skip it.
const StateDir = ".hybridembed"

// imageExts are what a folder walk picks up; files named explicitly are
// taken whatever their name.
var imageExts = map[string]bool{
	".jpg": true, ".jpeg": true, ".jpe": true, ".png": true, ".gif": true,
	".webp": true, ".bmp": true, ".tif": true, ".tiff": true,
}

// IsImageName reports whether a folder walk would pick up name.
func IsImageName(name string) bool { return imageExts[strings.ToLower(filepath.Ext(name))] }

// File is one image found: its path as reached from the argument, and its
// size and modification time (of the target, for a link).
type File struct {
	Path string
	Info fs.FileInfo
}

// Problem is a path that could not be read. What is at or under Path is
// unknown to the walk: not found, and not proven gone either.
type Problem struct {
	Path string
	Err  error
}

func (p Problem) Error() string { return p.Path + ": " + p.Err.Error() }

// ArgError is an argument that cannot be stat'ed: a typo, or a folder that
// is not mounted.
type ArgError struct {
	Path string
	Err  error
}

func (e *ArgError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *ArgError) Unwrap() error { return e.Err }

// ArgErrors are the arguments [Check] found that cannot be stat'ed, in
// order; errors.As finds each [*ArgError].
type ArgErrors []*ArgError

func (e ArgErrors) Error() string {
	s := make([]string, len(e))
	for i, a := range e {
		s[i] = a.Error()
	}
	return strings.Join(s, "; ")
}

func (e ArgErrors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, a := range e {
		errs[i] = a
	}
	return errs
}

// Check stats every argument and returns [ArgErrors] naming each that
// cannot be, so that a run stops before it writes or deletes anything on
// a mistyped or unmounted path.
func Check(args []string) error {
	var errs ArgErrors
	for _, arg := range args {
		if _, err := os.Stat(arg); err != nil {
			errs = append(errs, &ArgError{Path: arg, Err: unwrapPath(err)})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// errFound stops a walk at the first image.
var errFound = errors.New("found")

// HasImage reports whether a walk of args would find an image, stopping at
// the first; it is as cheap as a full walk only when there is none.
// Unreadable paths count as holding none.
func HasImage(args []string) bool {
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			continue
		}
		if !st.IsDir() {
			return true // a file named is taken whatever its name
		}
		err = filepath.WalkDir(walkRoot(arg), func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			case d.IsDir():
				if d.Name() == StateDir {
					return fs.SkipDir
				}
				return nil
			case !IsImageName(p):
				return nil
			}
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return errFound
			}
			return nil
		})
		if err == errFound {
			return true
		}
	}
	return false
}

// walkRoot is where a folder argument's walk starts: a link to a folder is
// walked as the folder it names.
func walkRoot(arg string) string {
	if lst, err := os.Lstat(arg); err == nil && lst.Mode()&fs.ModeSymlink != 0 {
		return arg + string(filepath.Separator)
	}
	return arg
}

// Walk expands each argument: a file is taken as it is; a folder is searched
// recursively for image files (by extension), sorted, following links to
// files but not to folders below the top. Paths that cannot be read become
// problems, in the order met, and the walk goes on: a caller that keeps
// state about the files (an index) must treat what is at or under a
// problem's path as unknown, not as deleted.
func Walk(args []string) ([]File, []Problem) {
	var files []File
	var problems []Problem
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			problems = append(problems, Problem{arg, unwrapPath(err)})
			continue
		}
		if !st.IsDir() {
			files = append(files, File{arg, st})
			continue
		}
		var found []File
		err = filepath.WalkDir(walkRoot(arg), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				problems = append(problems, Problem{p, unwrapPath(err)})
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if d.Name() == StateDir {
					return fs.SkipDir
				}
				return nil
			}
			if !IsImageName(p) {
				return nil
			}
			var info fs.FileInfo
			if d.Type()&fs.ModeSymlink != 0 { // follow links to files
				info, err = os.Stat(p)
			} else {
				info, err = d.Info()
			}
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) { // a dangling link is not an image
					problems = append(problems, Problem{p, unwrapPath(err)})
				}
				return nil
			}
			if info.Mode().IsRegular() {
				found = append(found, File{p, info})
			}
			return nil
		})
		if err != nil {
			problems = append(problems, Problem{arg, err})
		}
		sort.Slice(found, func(i, j int) bool { return found[i].Path < found[j].Path })
		files = append(files, found...)
	}
	return files, problems
}

// unwrapPath drops a *fs.PathError's path: problems carry it already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

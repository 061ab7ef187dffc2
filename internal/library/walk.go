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

// Problem is a path that could not be read.
type Problem struct {
	Path string
	Err  error
}

func (p Problem) Error() string { return p.Path + ": " + p.Err.Error() }

// Walk expands each argument: a file is taken as it is; a folder is searched
// recursively for image files (by extension), sorted, following links to
// files but not to folders below the top. Paths that cannot be read become
// problems, in the order met; the walk goes on.
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
		root := arg
		if lst, err := os.Lstat(arg); err == nil && lst.Mode()&fs.ModeSymlink != 0 {
			root = arg + string(filepath.Separator) // walk the linked folder itself
		}
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
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

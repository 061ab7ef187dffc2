package library

import (
	"fmt"
	"sort"
	"strings"
)

// Skipped counts what a walk left out below its arguments, on purpose:
// none of it is a failure.
type Skipped struct {
	// HiddenFolders and HiddenFiles are hidden (their names start with
	// "."); only files with an image extension are counted.
	HiddenFolders, HiddenFiles int
	// ClutterFolders are what operating systems, NAS boxes and sync tools
	// keep among photos (Synology's @eaDir, .Trash, $RECYCLE.BIN,
	// .thumbnails, __MACOSX, ...); ClutterFiles are image-named files that
	// are not images (macOS's ._NAME AppleDouble files).
	ClutterFolders, ClutterFiles int
	// Left are the paths of those hidden and clutter folders and files, in
	// the order met: what is at or under them is not part of the library.
	Left []string
	// Unsupported are photos in formats that cannot be decoded here, by
	// extension, with why.
	Unsupported []Unsupported
	// Loops are the links to a folder they are inside, not followed.
	Loops []string
}

// Unsupported are the photos with the extension Ext a walk left out, and
// why they cannot be decoded here. They are there: a caller keeping state
// about the files (an index) keeps theirs as it was.
type Unsupported struct {
	Ext   string
	Why   error
	Paths []string
}

func (s *Skipped) unsupported(ext string, paths []string, why error) {
	for i := range s.Unsupported {
		if s.Unsupported[i].Ext == ext {
			s.Unsupported[i].Paths = append(s.Unsupported[i].Paths, paths...)
			return
		}
	}
	s.Unsupported = append(s.Unsupported, Unsupported{Ext: ext, Paths: paths, Why: why})
	sort.Slice(s.Unsupported, func(i, j int) bool { return s.Unsupported[i].Ext < s.Unsupported[j].Ext })
}

// Add counts o's skips in s too.
func (s *Skipped) Add(o Skipped) {
	s.HiddenFolders += o.HiddenFolders
	s.HiddenFiles += o.HiddenFiles
	s.ClutterFolders += o.ClutterFolders
	s.ClutterFiles += o.ClutterFiles
	s.Left = append(s.Left, o.Left...)
	for _, u := range o.Unsupported {
		s.unsupported(u.Ext, u.Paths, u.Why)
	}
	s.Loops = append(s.Loops, o.Loops...)
}

// UnsupportedFiles is how many photos were left out for their format.
func (s Skipped) UnsupportedFiles() int {
	n := 0
	for _, u := range s.Unsupported {
		n += len(u.Paths)
	}
	return n
}

// Zero reports whether nothing was skipped.
func (s Skipped) Zero() bool {
	return s.HiddenFolders+s.HiddenFiles+s.ClutterFolders+s.ClutterFiles+s.UnsupportedFiles()+len(s.Loops) == 0
}

// String says what was skipped, in one line, with how to get it back:
// "2 hidden folders, 1 OS clutter folder (--include-hidden walks them);
// 12 .heic files (libheif ... not installed; install it with ...)".
func (s Skipped) String() string {
	var parts []string
	count := func(n int, one, many string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+one)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	count(s.HiddenFolders, "hidden folder", "hidden folders")
	count(s.HiddenFiles, "hidden file", "hidden files")
	count(s.ClutterFolders, "OS clutter folder (thumbnails, trash, NAS metadata)", "OS clutter folders (thumbnails, trash, NAS metadata)")
	count(s.ClutterFiles, "AppleDouble or NAS thumbnail file", "AppleDouble or NAS thumbnail files")
	var out []string
	if len(parts) > 0 {
		out = append(out, strings.Join(parts, ", ")+" (--include-hidden walks them)")
	}
	for _, u := range s.Unsupported {
		noun := "file"
		if len(u.Paths) > 1 {
			noun = "files"
		}
		out = append(out, fmt.Sprintf("%d %s %s that cannot be decoded here: %v", len(u.Paths), u.Ext, noun, u.Why))
	}
	const shown = 3
	loops := strings.Join(s.Loops[:min(len(s.Loops), shown)], ", ")
	if len(s.Loops) > shown {
		loops += fmt.Sprintf(" and %d more", len(s.Loops)-shown)
	}
	switch len(s.Loops) {
	case 0:
	case 1:
		out = append(out, "1 link to a folder it is in, not followed: "+loops)
	default:
		out = append(out, fmt.Sprintf("%d links to a folder they are in, not followed: %s", len(s.Loops), loops))
	}
	return strings.Join(out, "; ")
}

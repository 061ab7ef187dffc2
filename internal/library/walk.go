// Package library finds the image files of a photo library: the files
// named, and the images under the folders named, in a stable order,
// leaving out what is not the user's photos (hidden folders, what operating
// systems and NAS boxes keep beside them) and counting what it left out.
package library

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hybridembed/hybridembed/local/imageprep"
)

// StateDir is the folder an index keeps inside a library; walks skip it
// (always, and without counting it).
const StateDir = ".hybridembed"

// imageExts are what a folder walk picks up, with the format each holds;
// files named explicitly are taken whatever their name. HEIF and AVIF are
// taken only where libheif can decode them (see [Options.Available]).
var imageExts = map[string]imageprep.Format{
	".jpg": imageprep.JPEG, ".jpeg": imageprep.JPEG, ".jpe": imageprep.JPEG, ".png": imageprep.PNG,
	".gif": imageprep.GIF, ".webp": imageprep.WebP, ".bmp": imageprep.BMP, ".tif": imageprep.TIFF,
	".tiff": imageprep.TIFF, ".heic": imageprep.HEIF, ".heif": imageprep.HEIF, ".hif": imageprep.HEIF,
	".avif": imageprep.AVIF,
}

// otherPhotos are photo formats nothing here decodes: a walk counts them
// as unsupported rather than passing them over in silence.
var otherPhotos = map[string]string{
	".dng": "camera RAW", ".cr2": "camera RAW", ".cr3": "camera RAW", ".nef": "camera RAW",
	".nrw": "camera RAW", ".arw": "camera RAW", ".srf": "camera RAW", ".sr2": "camera RAW",
	".orf": "camera RAW", ".rw2": "camera RAW", ".raf": "camera RAW", ".pef": "camera RAW",
	".srw": "camera RAW", ".x3f": "camera RAW", ".3fr": "camera RAW", ".iiq": "camera RAW",
	".jxl": "JPEG XL", ".jp2": "JPEG 2000", ".psd": "Photoshop",
}

// IsImageName reports whether name has an image extension a folder walk
// considers (HEIF and AVIF included, whether or not they decode here).
func IsImageName(name string) bool {
	_, ok := imageExts[strings.ToLower(filepath.Ext(name))]
	return ok
}

// clutterDirs are folders that operating systems, NAS boxes and sync tools
// keep inside photo folders: thumbnails, trash, snapshots, metadata (what
// rclip, immich and photoprism leave out by default). Names compare
// without regard to case; a trailing "*" matches any rest.
var clutterDirs = []string{
	"@eaDir",                // Synology: thumbnails and metadata of every photo
	"#recycle", "#snapshot", // Synology: recycle bin, btrfs snapshots
	"@Recycle", "@Recently-Snapshot", "@__thumb", ".@__thumb", // QNAP
	"$RECYCLE.BIN", "RECYCLER", "System Volume Information", // Windows
	"__MACOSX",                                                                                   // what macOS puts in a zip
	".Trash", ".Trashes", ".Trash-*", ".Spotlight-V100", ".fseventsd", ".DocumentRevisions-V100", // macOS, freedesktop
	".TemporaryItems", ".AppleDouble", ".AppleDB", ".AppleDesktop", // macOS, netatalk
	".thumbnails", ".dtrash", ".picasaoriginals", // thumbnail caches; digiKam's trash; Picasa's pre-edit copies
	".stversions", ".stfolder", "lost+found", // Syncthing's old versions; fsck's
}

// isClutterDir reports whether name is a folder in clutterDirs.
func isClutterDir(name string) bool {
	for _, c := range clutterDirs {
		if prefix, ok := strings.CutSuffix(c, "*"); ok {
			if len(name) > len(prefix) && strings.EqualFold(name[:len(prefix)], prefix) {
				return true
			}
		} else if strings.EqualFold(name, c) {
			return true
		}
	}
	return false
}

// isClutterFile reports whether name is a file that looks like an image
// and is not one of the user's: macOS's AppleDouble "._NAME" files (its
// resource forks, on disks that have none), Synology's thumbnails.
// (.DS_Store, Thumbs.db, desktop.ini and the like have no image extension:
// no walk takes them.)
func isClutterFile(name string) bool {
	return strings.HasPrefix(name, "._") || strings.HasPrefix(name, "SYNOFILE_THUMB_")
}

// isHidden reports whether a name is hidden, as ls and every file manager
// on Unix hide it.
func isHidden(name string) bool { return strings.HasPrefix(name, ".") && name != "." && name != ".." }

// Options say what a walk takes. The zero value is the default.
type Options struct {
	// IncludeHidden walks hidden folders and takes hidden files (names
	// that start with "."), and the OS and NAS clutter folders and
	// files (see [Skipped]), like any other.
	IncludeHidden bool
	// Available says whether images of a format can be decoded here,
	// and why not; nil asks imageprep (HEIF and AVIF need libheif).
	Available func(imageprep.Format) error
}

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

// Result is what a walk found: images, in order; paths it could not read;
// and what it left out.
type Result struct {
	Files    []File
	Problems []Problem
	Skipped  Skipped
}

// Walk expands each argument: a file is taken as it is, whatever its name;
// a folder is searched recursively for image files (by extension),
// sorted, following links to files and to folders. Below an argument,
// hidden folders and files, the OS and NAS clutter and the index's own
// folder are left out unless opts.IncludeHidden; so are photos in formats
// that cannot be decoded here (HEIC without libheif, camera RAW), and
// links to a folder they are inside (a loop, which would never end): all
// are counted in Result.Skipped, as known, neither taken nor failed.
//
// Paths that cannot be read become problems, in the order met, and the
// walk goes on: a caller that keeps state about the files (an index) must
// treat what is at or under a problem's path as unknown, not as deleted.
func (o Options) Walk(args []string) Result {
	w := walker{opts: o}
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			w.res.Problems = append(w.res.Problems, Problem{arg, unwrapPath(err)})
			continue
		}
		if !st.IsDir() {
			w.res.Files = append(w.res.Files, File{arg, st})
			continue
		}
		start := len(w.res.Files)
		w.dir(walkRoot(arg), []fs.FileInfo{st})
		found := w.res.Files[start:]
		sort.Slice(found, func(i, j int) bool { return found[i].Path < found[j].Path })
	}
	return w.res
}

// HasImage reports whether a walk of args would find an image, stopping at
// the first; it is as cheap as a full walk only when there is none, and
// then what it skipped says why there is none (hidden, unsupported, ...).
// Unreadable paths count as holding none.
func (o Options) HasImage(args []string) (bool, Skipped) {
	w := walker{opts: o, first: true}
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			continue
		}
		if !st.IsDir() {
			return true, Skipped{} // a file named is taken whatever its name
		}
		if w.dir(walkRoot(arg), []fs.FileInfo{st}) {
			return true, Skipped{}
		}
	}
	return false, w.res.Skipped
}

// Walk is [Options.Walk] with the default options.
func Walk(args []string) ([]File, []Problem) {
	r := Options{}.Walk(args)
	return r.Files, r.Problems
}

// HasImage is [Options.HasImage] with the default options.
func HasImage(args []string) bool {
	ok, _ := Options{}.HasImage(args)
	return ok
}

type walker struct {
	opts  Options
	first bool // stop at the first image (HasImage)
	res   Result
	avail map[imageprep.Format]error
}

// dir walks the folder at path, whose own and whose ancestors' infos are
// stack (a folder met again on it is a loop). It reports whether it
// stopped at a first image.
func (w *walker) dir(path string, stack []fs.FileInfo) (stop bool) {
	entries, err := os.ReadDir(path)
	if err != nil {
		if !w.first {
			w.res.Problems = append(w.res.Problems, Problem{strings.TrimSuffix(path, string(filepath.Separator)), unwrapPath(err)})
		}
		return false
	}
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(path, name)
		var info fs.FileInfo
		if e.Type()&fs.ModeSymlink != 0 { // follow links, to files and to folders
			info, err = os.Stat(p)
		} else {
			info, err = e.Info()
		}
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && !w.first { // a dangling link, or a file gone since the listing, is not an image
				w.res.Problems = append(w.res.Problems, Problem{p, unwrapPath(err)})
			}
			continue
		}
		if info.IsDir() {
			if w.enter(p, name, info, stack) && w.dir(p, append(stack, info)) {
				return true
			}
			continue
		}
		if w.take(p, name, info) && w.first {
			return true
		}
	}
	return false
}

// enter decides whether the walk goes into the folder p, counting it when
// it does not.
func (w *walker) enter(p, name string, info fs.FileInfo, stack []fs.FileInfo) bool {
	s := &w.res.Skipped
	if name == StateDir || w.leave(p, isClutterDir(name), isHidden(name), &s.ClutterFolders, &s.HiddenFolders) {
		return false
	}
	for _, a := range stack {
		if os.SameFile(a, info) { // the same device and inode: a link to a folder it is in
			s.Loops = append(s.Loops, p)
			return false
		}
	}
	return true
}

// take decides whether the file p is an image to take, counting what it
// leaves out.
func (w *walker) take(p, name string, info fs.FileInfo) bool {
	ext := strings.ToLower(filepath.Ext(name))
	f, isImage := imageExts[ext]
	_, isPhoto := otherPhotos[ext]
	if !isImage && !isPhoto || !info.Mode().IsRegular() {
		return false
	}
	s := &w.res.Skipped
	if w.leave(p, isClutterFile(name), isHidden(name), &s.ClutterFiles, &s.HiddenFiles) {
		return false
	}
	if isPhoto {
		s.unsupported(ext, []string{p}, errors.New("no decoder here reads "+otherPhotos[ext]+" files"))
		return false
	}
	if err := w.available(f); err != nil {
		s.unsupported(ext, []string{p}, err)
		return false
	}
	if !w.first {
		w.res.Files = append(w.res.Files, File{p, info})
	}
	return true
}

// leave reports whether the walk leaves p out as clutter or hidden (unless
// IncludeHidden), counting it in clutter or hidden and noting its path.
func (w *walker) leave(p string, isClutter, isHidden bool, clutter, hidden *int) bool {
	switch {
	case w.opts.IncludeHidden:
		return false
	case isClutter:
		*clutter++
	case isHidden:
		*hidden++
	default:
		return false
	}
	w.res.Skipped.Left = append(w.res.Skipped.Left, p)
	return true
}

// available asks once per walk whether format f decodes here.
func (w *walker) available(f imageprep.Format) error {
	if err, ok := w.avail[f]; ok {
		return err
	}
	check := w.opts.Available
	if check == nil {
		check = imageprep.Available
	}
	if w.avail == nil {
		w.avail = map[imageprep.Format]error{}
	}
	w.avail[f] = check(f)
	return w.avail[f]
}

// walkRoot is where a folder argument's walk starts: a link to a folder is
// walked as the folder it names.
func walkRoot(arg string) string {
	if lst, err := os.Lstat(arg); err == nil && lst.Mode()&fs.ModeSymlink != 0 {
		return arg + string(filepath.Separator)
	}
	return arg
}

// unwrapPath drops a *fs.PathError's path: problems carry it already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

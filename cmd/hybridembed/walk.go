package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"

	"github.com/hybridembed/hybridembed/internal/library"
)

// walkHelp says which files a folder walk takes, for the commands that walk.
const walkHelp = `
WHICH FILES
  A folder is searched recursively for .jpg .jpeg .jpe .png .gif .webp .bmp
  .tif .tiff files, and .heic .heif .hif .avif where libheif is installed
  (scripts/install-libheif.sh); links to files and folders are followed, and
  a link to a folder it is in is reported and not followed. Left out, and
  counted in the summary: hidden folders and files (names starting with .),
  the folders operating systems, NAS boxes and sync tools keep among photos
  (@eaDir, #recycle, #snapshot, @Recycle, .Trash, .Trash-*, $RECYCLE.BIN,
  System Volume Information, .thumbnails, __MACOSX, .AppleDouble,
  .stversions, lost+found, ...) and macOS's ._* AppleDouble files, all of
  which --include-hidden walks; and photos that cannot be decoded here (HEIC
  without libheif, camera RAW). A file or folder named as a PATH is taken
  whatever its name.`

func addWalkFlags(f *pflag.FlagSet, include *bool) {
	f.BoolVar(include, "include-hidden", false, "also walk hidden folders and files and OS/NAS clutter (.thumbnails, @eaDir, .Trash, ...)")
}

// saySkipped prints what a walk left out, when it left out anything.
func saySkipped(w io.Writer, s library.Skipped) {
	if !s.Zero() {
		fmt.Fprintf(w, "hybridembed: skipped %s\n", s)
	}
}

// noImages is the error of a walk that found no image, saying what it left
// out when that is why.
func noImages(paths []string, s library.Skipped, more string) error {
	msg := "no images found in " + strings.Join(paths, ", ") + more
	if !s.Zero() {
		msg += "; skipped " + s.String()
	}
	return fmt.Errorf("%s", msg)
}

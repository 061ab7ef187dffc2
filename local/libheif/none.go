//go:build !cgo || windows

package libheif

import (
	"errors"
	"os"

	"github.com/hybridembed/hybridembed/local/libenv"
)

var errNoCgo = errors.New("libheif cannot be loaded: this build has no cgo (or is for Windows)")

// Errors callers can match with errors.Is.
var (
	ErrCorrupt     = errors.New("corrupt HEIF file")
	ErrUnsupported = errors.New("unsupported HEIF feature")
	ErrTooLarge    = errors.New("image too large")
)

// IgnoreEnvironment has nothing to ignore in this build.
func IgnoreEnvironment() {}

// Load reports that the library cannot be used in this build: a
// [*libenv.Error] when $LIBHEIF_LIB asks for it.
func Load() error {
	if p := os.Getenv("LIBHEIF_LIB"); p != "" {
		return &libenv.Error{Var: "LIBHEIF_LIB", Path: p, Lib: "libheif", Err: errNoCgo}
	}
	return errNoCgo
}

// Path is empty in this build.
func Path() (path, version string) { return "", "" }

// Supports reports that the library cannot be used in this build.
func Supports(Codec) error { return errNoCgo }

// Config is unavailable in this build.
func Config([]byte) (w, h int, err error) { return 0, 0, errNoCgo }

// Decode is unavailable in this build.
func Decode([]byte, int64, []byte) (Image, error) { return Image{}, errNoCgo }

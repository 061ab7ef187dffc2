// Package turbojpeg binds libjpeg-turbo's TurboJPEG API at run time
// (dlopen), so that JPEGs decode to exactly the pixels Pillow gets (Pillow
// decodes with the same library) and a machine without the library still
// builds and runs. It is a cgo leaf: it knows nothing of images beyond
// bytes; local/imageprep, which is pure Go, converts what it returns.
package turbojpeg

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrClosed is returned by a [Decoders] after Close.
var ErrClosed = errors.New("libjpeg-turbo decoders closed")

// Image is a decoded JPEG: W x H pixels of Channels bytes each, packed.
type Image struct {
	W, H, Channels int
	Pix            []byte
}

// EnvError is why the library $TURBOJPEG_LIB names cannot be used: it is
// missing, a folder, or not a library. Such a setting is an error, never
// a quiet fallback to Go's decoder, whose pixels differ.
type EnvError struct {
	Var, Path string
	Err       error
	lib       string // the library's file name, for the hint
}

func (e *EnvError) Error() string {
	return fmt.Sprintf("%s=%s: %v (point %s at libjpeg-turbo's %s, or unset it to use hybridembed's cache or the system's)", e.Var, e.Path, e.Err, e.Var, e.lib)
}

func (e *EnvError) Unwrap() error { return e.Err }

// statLibrary says why p, named by the environment, cannot be a library
// file, or nil when it may be one.
func statLibrary(p string) error {
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("no such file")
	case err != nil:
		return err
	case st.IsDir():
		return errors.New("a folder, not a library file")
	}
	return nil
}

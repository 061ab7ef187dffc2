//go:build !cgo || windows

package turbojpeg

import (
	"errors"
	"os"

	"github.com/hybridembed/hybridembed/local/libenv"
)

var errNoCgo = errors.New("libjpeg-turbo cannot be loaded: this build has no cgo (or is for Windows)")

// Load reports that the library cannot be used in this build: a
// [*libenv.Error] when $TURBOJPEG_LIB asks for it.
func Load() error {
	if p := os.Getenv("TURBOJPEG_LIB"); p != "" {
		return &libenv.Error{Var: "TURBOJPEG_LIB", Path: p, Lib: "libturbojpeg", Err: errNoCgo}
	}
	return errNoCgo
}

// IgnoreEnvironment has nothing to ignore in this build.
func IgnoreEnvironment() {}

// Decode is unavailable in this build.
func Decode([]byte, int, []byte) (Image, error) { return Image{}, errNoCgo }

// Header is unavailable in this build.
func Header([]byte) (Image, error) { return Image{}, errNoCgo }

// Handles reports no handles: this build makes none.
func Handles() (made, destroyed int64) { return 0, 0 }

// Decoders has no handles in this build; its decodes fail as [Decode] does.
type Decoders struct{}

// NewDecoders returns a set that cannot decode in this build.
func NewDecoders(int) *Decoders { return &Decoders{} }

// Decode is unavailable in this build.
func (*Decoders) Decode([]byte, int, []byte) (Image, error) { return Image{}, errNoCgo }

// Close has nothing to release.
func (*Decoders) Close() error { return nil }

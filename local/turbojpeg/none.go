//go:build !cgo || windows

package turbojpeg

import "errors"

var errNoCgo = errors.New("libjpeg-turbo cannot be loaded: this build has no cgo (or is for Windows)")

// Load reports that the library cannot be used in this build.
func Load() error { return errNoCgo }

// Decode is unavailable in this build.
func Decode([]byte, int, []byte) (Image, error) { return Image{}, errNoCgo }

// Header is unavailable in this build.
func Header([]byte) (Image, error) { return Image{}, errNoCgo }

// Package turbojpeg binds libjpeg-turbo's TurboJPEG API at run time
// (dlopen), so that JPEGs decode to exactly the pixels Pillow gets (Pillow
// decodes with the same library) and a machine without the library still
// builds and runs. It is a cgo leaf: it knows nothing of images beyond
// bytes; local/imageprep, which is pure Go, converts what it returns.
package turbojpeg

import "errors"

// ErrClosed is returned by a [Decoders] after Close.
var ErrClosed = errors.New("libjpeg-turbo decoders closed")

// Image is a decoded JPEG: W x H pixels of Channels bytes each, packed.
type Image struct {
	W, H, Channels int
	Pix            []byte
}

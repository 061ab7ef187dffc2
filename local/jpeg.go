package local

import (
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/turbojpeg"
)

// The engine decodes JPEGs with libjpeg-turbo when it loads (the pixels
// are Pillow's); imageprep, pure Go, falls back to Go's decoder otherwise.
func init() { imageprep.UseJPEGLibrary(TurboJPEG) }

// TurboJPEG is libjpeg-turbo's binding in the form imageprep takes.
var TurboJPEG = imageprep.JPEGLibrary{
	Load: turbojpeg.Load,
	Decode: func(data []byte, scale int, buf []byte) (int, int, int, []byte, error) {
		img, err := turbojpeg.Decode(data, scale, buf)
		return img.W, img.H, img.Channels, img.Pix, err
	},
}

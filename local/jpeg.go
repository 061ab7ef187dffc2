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

// turboSet is a fixed set of libjpeg-turbo handles in the form imageprep
// takes.
type turboSet struct{ d *turbojpeg.Decoders }

func (t turboSet) DecodeJPEG(data []byte, scale int, buf []byte) (int, int, int, []byte, error) {
	img, err := t.d.Decode(data, scale, buf)
	return img.W, img.H, img.Channels, img.Pix, err
}

// nativeJPEG is the engine's libjpeg-turbo handles, one per decoding
// worker, or nil before the decoding pool has started.
func (e *Engine) nativeJPEG() imageprep.NativeJPEG {
	if d := e.jpegs.Load(); d != nil {
		return turboSet{d}
	}
	return nil
}

package local

import (
	"errors"
	"fmt"

	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/libheif"
)

// The engine decodes HEIC, HEIF and AVIF with libheif when it loads;
// without it imageprep refuses them as unsupported, naming the install.
func init() { imageprep.UseHEIFLibrary(LibHEIF) }

// LibHEIF is libheif's binding in the form imageprep takes.
var LibHEIF = imageprep.HEIFLibrary{
	Supports: func(f imageprep.Format) error {
		if f == imageprep.AVIF {
			return libheif.Supports(libheif.AV1)
		}
		return libheif.Supports(libheif.HEVC)
	},
	Config: func(data []byte) (int, int, error) {
		w, h, err := libheif.Config(data)
		return w, h, heifError(err)
	},
	Decode: func(data []byte, maxPixels int64, buf []byte) (int, int, []byte, error) {
		img, err := libheif.Decode(data, maxPixels, buf)
		return img.W, img.H, img.Pix, heifError(err)
	},
}

// heifError says libheif's failures in imageprep's terms.
func heifError(err error) error {
	var he *libheif.Error
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &he):
		return fmt.Errorf("%w: heif: %v", imageprep.ErrUnsupported, err) // the library is not usable
	case he.Kind == libheif.ErrTooLarge:
		return fmt.Errorf("%w: heif: %s", imageprep.ErrTooLarge, he.Message)
	case he.Kind == libheif.ErrUnsupported:
		return fmt.Errorf("%w: heif: %s", imageprep.ErrUnsupported, he.Message)
	}
	return fmt.Errorf("%w: heif: %s", imageprep.ErrCorrupt, he.Message)
}

package hybridembed

import (
	"fmt"
	"image"
	"io"
	"os"

	"github.com/hybridembed/hybridembed/local/imageprep"
)

// Image is one image to embed: a file, a stream or an already-decoded
// image. Files and streams may be JPEG, PNG, GIF (first frame), WebP, BMP
// or TIFF.
//
// Images are untrusted input: their header is checked against the pixel
// limit (see [WithMaxPixels]) before any pixel is decoded.
type Image struct {
	name string
	path string
	r    io.Reader
	img  image.Image
}

// ImageFile is the image in the file at path.
func ImageFile(path string) Image { return Image{name: path, path: path} }

// ImageReader is the encoded image read from r; name identifies it in
// results and errors. r is read once, when the image is embedded.
func ImageReader(name string, r io.Reader) Image { return Image{name: name, r: r} }

// ImageValue is an image already decoded; name identifies it.
func ImageValue(name string, img image.Image) Image { return Image{name: name, img: img} }

// Name is the path or name the image was given.
func (im Image) Name() string { return im.name }

// imageSource adapts an Image to the local engine's ImageSource.
type imageSource struct{ Image }

func (s imageSource) Decode(limits imageprep.Limits) (*imageprep.RGB, error) {
	switch {
	case s.img != nil:
		b := s.img.Bounds()
		if max := limits.MaxPixels; max > 0 && int64(b.Dx())*int64(b.Dy()) > max {
			return nil, fmt.Errorf("%w: %dx%d is over the limit of %d pixels", imageprep.ErrTooLarge, b.Dx(), b.Dy(), max)
		}
		return imageprep.FromImage(s.img), nil
	case s.r != nil:
		data, err := imageprep.ReadAll(s.r, limits)
		if err != nil {
			return nil, err
		}
		return imageprep.Decode(data, limits)
	case s.path != "":
		f, err := os.Open(s.path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("not a regular file")
		}
		data, err := imageprep.ReadAll(f, limits)
		if err != nil {
			return nil, err
		}
		return imageprep.Decode(data, limits)
	}
	return nil, fmt.Errorf("empty Image value")
}

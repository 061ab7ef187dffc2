// Package thumb makes the JPEG previews of photos that the search page and
// the HTML gallery show, decoded by the project's own image pipeline
// (local/imageprep: EXIF orientation applied, decompression bombs
// refused), and keeps them in a folder keyed by the content's sha256.
package thumb

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/hybridembed/hybridembed/local/imageprep"
)

// Quality is the JPEG quality of every preview.
const Quality = 82

// Make decodes the encoded image data and returns it as a JPEG whose
// longest side is at most size pixels (smaller images keep their size).
// limits guard decoding as they do for embedding; a zero Draft lets a
// large JPEG decode at a reduced scale that still covers size.
func Make(data []byte, size int, limits imageprep.Limits) ([]byte, error) {
	if size <= 0 {
		return nil, fmt.Errorf("thumbnail size %d: must be positive", size)
	}
	if limits.Draft == 0 {
		limits.Draft = size
	}
	rgb, err := imageprep.Decode(data, limits)
	if err != nil {
		return nil, err
	}
	w, h := rgb.W, rgb.H
	if scale := float64(size) / float64(max(w, h)); scale < 1 {
		w, h = max(1, int(float64(w)*scale+0.5)), max(1, int(float64(h)*scale+0.5))
		small, err := imageprep.Resize(rgb, w, h, imageprep.Lanczos)
		imageprep.Recycle(rgb)
		if err != nil {
			return nil, err
		}
		rgb = small
	}
	img := toRGBA(rgb)
	imageprep.Recycle(rgb)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: Quality}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func toRGBA(src *imageprep.RGB) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, src.W, src.H))
	for i, j := 0, 0; i < len(src.Pix); i, j = i+3, j+4 {
		img.Pix[j], img.Pix[j+1], img.Pix[j+2], img.Pix[j+3] = src.Pix[i], src.Pix[i+1], src.Pix[i+2], 255
	}
	return img
}

package imageprep

import (
	"image"
	"image/color"
	"sync"
)

// RGB is an 8-bit RGB image, packed row-major (3 bytes a pixel, no padding):
// the form PIL's convert("RGB") produces and CLIP's preprocessing reads.
type RGB struct {
	W, H int
	Pix  []uint8

	pooled bool // Pix may go back to pixPool (see Recycle)
}

// pixPool keeps decoded images' pixel buffers for reuse: a run over a
// folder of photos would otherwise allocate, and have the OS fault in and
// zero, megabytes for every image. Buffers too small for the next image
// are replaced by the decoder's own allocation.
var pixPool sync.Pool // of *[]byte

func getPix() []byte {
	if b, ok := pixPool.Get().(*[]byte); ok {
		return *b
	}
	return nil
}

func putPix(b []byte) {
	if cap(b) > 0 {
		pixPool.Put(&b)
	}
}

// Recycle lets later decodes reuse img's pixel memory, when a decoder
// allocated it, and empties img. Callers that are done with a decoded
// image (the engine, once it has preprocessed it) may call it; img must
// not be used afterwards. It is optional: an image that is never recycled
// is garbage-collected as usual.
func Recycle(img *RGB) {
	if img == nil {
		return
	}
	if img.pooled {
		putPix(img.Pix)
	}
	img.W, img.H, img.Pix, img.pooled = 0, 0, nil, false
}

// FromImage converts any image to RGB the way PIL's convert("RGB") does:
// alpha is dropped, not composited and not premultiplied; CMYK uses PIL's
// formula; 16-bit channels keep their high byte, except 16-bit gray, which
// PIL clamps to 255 rather than scaling.
func FromImage(img image.Image) *RGB {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := &RGB{W: w, H: h, Pix: make([]uint8, w*h*3)}
	switch m := img.(type) {
	case *image.YCbCr:
		ycbcrToRGB(m, out)
		return out
	case *image.NYCbCrA:
		ycbcrToRGB(&m.YCbCr, out)
		return out
	case *image.NRGBA:
		dropAlpha(out, m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride)
		return out
	case *image.RGBA:
		// Decoders return RGBA for opaque images, where premultiplication
		// is the identity; a translucent RGBA (a TIFF with associated alpha)
		// is taken as stored, as PIL does.
		dropAlpha(out, m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], m.Stride)
		return out
	case *image.Gray:
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride:]
			dst := out.Pix[y*w*3:]
			for x := 0; x < w; x++ {
				v := src[x]
				dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
			}
		}
		return out
	case *image.Gray16:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := m.Gray16At(b.Min.X+x, b.Min.Y+y).Y
				g := uint8(min(v, 255))
				i := (y*w + x) * 3
				out.Pix[i], out.Pix[i+1], out.Pix[i+2] = g, g, g
			}
		}
		return out
	case *image.CMYK:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := m.CMYKAt(b.Min.X+x, b.Min.Y+y)
				i := (y*w + x) * 3
				out.Pix[i], out.Pix[i+1], out.Pix[i+2] = pilCMYK(c.C, c.K), pilCMYK(c.M, c.K), pilCMYK(c.Y, c.K)
			}
		}
		return out
	case *image.Paletted:
		pal := make([][3]uint8, len(m.Palette))
		for i, c := range m.Palette {
			pal[i] = straightRGB(c)
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				idx := m.Pix[y*m.Stride+x]
				var p [3]uint8
				if int(idx) < len(pal) {
					p = pal[idx]
				}
				copy(out.Pix[(y*w+x)*3:], p[:])
			}
		}
		return out
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := straightRGB(img.At(b.Min.X+x, b.Min.Y+y))
			copy(out.Pix[(y*w+x)*3:], p[:])
		}
	}
	return out
}

// dropAlpha copies 4-byte pixels' first three channels.
func dropAlpha(out *RGB, pix []uint8, stride int) {
	for y := 0; y < out.H; y++ {
		src := pix[y*stride:]
		dst := out.Pix[y*out.W*3:]
		for x := 0; x < out.W; x++ {
			dst[3*x], dst[3*x+1], dst[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
		}
	}
}

// straightRGB returns a colour's stored (non-premultiplied) RGB.
func straightRGB(c color.Color) [3]uint8 {
	switch v := c.(type) {
	case color.NRGBA:
		return [3]uint8{v.R, v.G, v.B}
	case color.NRGBA64:
		return [3]uint8{uint8(v.R >> 8), uint8(v.G >> 8), uint8(v.B >> 8)}
	case color.RGBA:
		return [3]uint8{v.R, v.G, v.B}
	case color.Gray:
		return [3]uint8{v.Y, v.Y, v.Y}
	}
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return [3]uint8{n.R, n.G, n.B}
}

// pilCMYK is PIL's cmyk2rgb for one channel: 255-k minus x scaled by
// (255-k)/255, rounded as MULDIV255 rounds.
func pilCMYK(x, k uint8) uint8 {
	nk := 255 - int(k)
	tmp := int(x)*nk + 128
	return uint8(nk - ((tmp>>8)+tmp)>>8)
}

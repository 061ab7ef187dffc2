package imageprep

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
)

// decodeGIF returns the first frame as PIL shows it: on the logical screen
// (filled with the transparent index, else index 0, where the frame does
// not cover it), with the palette's real colour at the transparent index.
// Go's decoder replaces that colour with transparent black, which
// convert("RGB") in PIL would not.
func decodeGIF(data []byte) (*RGB, error) {
	cfg, err := gif.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	frame, err := gif.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	pm, ok := frame.(*image.Paletted)
	if !ok {
		return FromImage(frame), nil
	}
	palette, trans, err := gifFirstPalette(data)
	if err != nil {
		return nil, err
	}
	w, h := cfg.Width, cfg.Height
	fill := uint8(0)
	if trans >= 0 {
		fill = uint8(trans)
	}
	idx := make([]uint8, w*h)
	for i := range idx {
		idx[i] = fill
	}
	fb := pm.Bounds().Intersect(image.Rect(0, 0, w, h))
	for y := fb.Min.Y; y < fb.Max.Y; y++ {
		for x := fb.Min.X; x < fb.Max.X; x++ {
			idx[y*w+x] = pm.Pix[pm.PixOffset(x, y)]
		}
	}
	out := &RGB{W: w, H: h, Pix: make([]uint8, w*h*3)}
	for i, v := range idx {
		if o := 3 * int(v); o+3 <= len(palette) {
			copy(out.Pix[3*i:3*i+3], palette[o:o+3])
		}
	}
	return out, nil
}

// gifFirstPalette reads the raw colour table the first frame uses (its
// local table, else the global one) and the transparent index from the
// graphic control extension before it (-1 if none).
func gifFirstPalette(data []byte) (palette []byte, trans int, err error) {
	bad := fmt.Errorf("%w: GIF structure", ErrCorrupt)
	if len(data) < 13 {
		return nil, -1, bad
	}
	pos := 13
	var global []byte
	if flags := data[10]; flags&0x80 != 0 {
		n := 3 << ((flags & 7) + 1)
		if pos+n > len(data) {
			return nil, -1, bad
		}
		global = data[pos : pos+n]
		pos += n
	}
	trans = -1
	for pos < len(data) {
		switch data[pos] {
		case 0x21: // extension
			if pos+2 > len(data) {
				return nil, -1, bad
			}
			label := data[pos+1]
			pos += 2
			for pos < len(data) {
				n := int(data[pos])
				pos++
				if n == 0 {
					break
				}
				if pos+n > len(data) {
					return nil, -1, bad
				}
				if label == 0xf9 && n >= 4 && data[pos]&1 != 0 {
					trans = int(data[pos+3])
				}
				pos += n
			}
		case 0x2c: // image descriptor
			if pos+10 > len(data) {
				return nil, -1, bad
			}
			if flags := data[pos+9]; flags&0x80 != 0 {
				n := 3 << ((flags & 7) + 1)
				if pos+10+n > len(data) {
					return nil, -1, bad
				}
				return data[pos+10 : pos+10+n], trans, nil
			}
			return global, trans, nil
		default:
			return nil, -1, bad
		}
	}
	return nil, -1, bad
}

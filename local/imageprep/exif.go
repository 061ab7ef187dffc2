package imageprep

import (
	"bytes"
	"encoding/binary"
	"regexp"
)

// orientation reads the EXIF orientation (1..8) where PIL's getexif would
// find it: JPEG APP1 "Exif", PNG eXIf (or an XMP tiff:Orientation in an
// iTXt chunk when there is no EXIF), WebP's EXIF chunk, and TIFF's own IFD0.
// Anything unreadable counts as 1, as in PIL.
//
// A HEIF file's EXIF orientation is not applied: its irot and imir
// transforms are (libheif applies them when it decodes), and Pillow-heif
// resets the EXIF tag so that exif_transpose does not turn the image twice.
func orientation(f Format, data []byte) int {
	switch f {
	case JPEG:
		return jpegOrientation(data)
	case PNG:
		return pngOrientation(data)
	case WebP:
		return webpOrientation(data)
	case TIFF:
		return tiffOrientation(data)
	}
	return 1
}

// jpegOrientation reads the first APP1 "Exif" segment before the scan, as
// Pillow keeps the first one it meets.
func jpegOrientation(data []byte) int {
	s := newJPEGScanner(data)
	for s.scan() {
		if s.seg.marker == markerAPP1 && bytes.HasPrefix(s.seg.payload, []byte("Exif\x00\x00")) {
			return tiffOrientation(s.seg.payload[6:])
		}
	}
	return 1
}

var xmpOrientation = regexp.MustCompile(`tiff:Orientation(?:="|>)([0-9])`)

func pngOrientation(data []byte) int {
	pos := 8
	xmp := 0
	for pos+12 <= len(data) {
		n := int(binary.BigEndian.Uint32(data[pos:]))
		typ := string(data[pos+4 : pos+8])
		if n < 0 || pos+12+n > len(data) {
			break
		}
		body := data[pos+8 : pos+8+n]
		switch typ {
		case "eXIf":
			return tiffOrientation(bytes.TrimPrefix(body, []byte("Exif\x00\x00")))
		case "iTXt":
			if bytes.HasPrefix(body, []byte("XML:com.adobe.xmp\x00")) {
				if m := xmpOrientation.FindSubmatch(body); m != nil {
					xmp = int(m[1][0] - '0')
				}
			}
		case "IEND":
			pos = len(data)
			continue
		}
		pos += 12 + n
	}
	if xmp >= 1 && xmp <= 8 {
		return xmp
	}
	return 1
}

func webpOrientation(data []byte) int {
	pos := 12
	for pos+8 <= len(data) {
		n := int(binary.LittleEndian.Uint32(data[pos+4:]))
		if n < 0 || pos+8+n > len(data) {
			return 1
		}
		if string(data[pos:pos+4]) == "EXIF" {
			return tiffOrientation(bytes.TrimPrefix(data[pos+8:pos+8+n], []byte("Exif\x00\x00")))
		}
		pos += 8 + n + n%2
	}
	return 1
}

// tiffOrientation reads tag 0x0112 from IFD0 of TIFF-structured data.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 1
	}
	count := int(bo.Uint16(t[off:]))
	for i := 0; i < count; i++ {
		e := off + 2 + 12*i
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		var v int
		switch bo.Uint16(t[e+2:]) {
		case 3: // SHORT
			v = int(bo.Uint16(t[e+8:]))
		case 4: // LONG
			v = int(bo.Uint32(t[e+8:]))
		default:
			return 1
		}
		if v >= 1 && v <= 8 {
			return v
		}
		return 1
	}
	return 1
}

// orient applies an EXIF orientation as PIL's exif_transpose does.
func orient(src *RGB, o int) *RGB {
	w, h := src.W, src.H
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := &RGB{W: ow, H: oh, Pix: make([]uint8, len(src.Pix))}
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-x, y
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sx, sy = x, h-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, h-1-x
			case 7:
				sx, sy = w-1-y, h-1-x
			case 8:
				sx, sy = w-1-y, x
			default:
				sx, sy = x, y
			}
			si, di := (sy*w+sx)*3, (y*ow+x)*3
			out.Pix[di], out.Pix[di+1], out.Pix[di+2] = src.Pix[si], src.Pix[si+1], src.Pix[si+2]
		}
	}
	return out
}

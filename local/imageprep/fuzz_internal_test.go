package imageprep

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"testing"

	"github.com/hybridembed/hybridembed/local/turbojpeg"
)

// FuzzJPEGHeader walks JPEG headers with the segment scanner and reads
// them as the decoders do. The walk must stay inside the data, in order,
// each segment where its marker is, with a payload exactly for the
// markers that have a length, and nothing after SOS or EOI. Where
// libjpeg-turbo reads a frame size (tjDecompressHeader3), the scanner must
// read the same one: the pixel limit is checked against the scanner's
// size, and libjpeg allocates by its own. Orientation must be 1..8.
func FuzzJPEGHeader(f *testing.F) {
	turbo := turbojpeg.Load() == nil
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newJPEGScanner(data)
		last, n := -1, 0
		for s.scan() {
			seg := s.seg
			n++
			if seg.offset <= last || seg.offset+2 > len(data) || data[seg.offset] != 0xff || data[seg.offset+1] != seg.marker {
				t.Fatalf("segment %d (marker %02x) at %d, after one at %d, in %d bytes", n, seg.marker, seg.offset, last, len(data))
			}
			if standalone(seg.marker) != (seg.payload == nil) {
				t.Fatalf("marker %02x at %d: payload %v", seg.marker, seg.offset, seg.payload)
			}
			if seg.payload != nil && seg.offset+4+len(seg.payload) > len(data) {
				t.Fatalf("marker %02x at %d: %d bytes of payload run past %d", seg.marker, seg.offset, len(seg.payload), len(data))
			}
			if n > len(data) {
				t.Fatalf("%d segments in %d bytes", n, len(data))
			}
			last = seg.offset
		}
		if s.scan() {
			t.Fatal("the scanner went on after it ended")
		}
		cfg, err := jpegFrame(data)
		if o := jpegOrientation(data); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
		_ = adobe(data)
		if !turbo {
			return
		}
		lib, lerr := turbojpeg.Header(data)
		if lerr != nil {
			return
		}
		if err != nil {
			t.Fatalf("libjpeg-turbo reads a %dx%d frame; the scanner: %v", lib.W, lib.H, err)
		}
		if lib.W != cfg.Width || lib.H != cfg.Height {
			t.Fatalf("libjpeg-turbo reads a %dx%d frame, the scanner %dx%d", lib.W, lib.H, cfg.Width, cfg.Height)
		}
	})
}

// FuzzOrientation reads EXIF orientation from any format that carries
// it (JPEG APP1, PNG eXIf and XMP, WebP EXIF, TIFF IFD0) and from raw
// TIFF-structured EXIF: it must not panic and must be 1..8, and applying
// it must keep every pixel.
func FuzzOrientation(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fm := range []Format{JPEG, PNG, WebP, TIFF} {
			if o := orientation(fm, data); o < 1 || o > 8 {
				t.Fatalf("%s orientation %d", fm, o)
			}
		}
		o := tiffOrientation(data)
		if o < 1 || o > 8 {
			t.Fatalf("EXIF orientation %d", o)
		}
		src := &RGB{W: 3, H: 2, Pix: []byte{1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6}}
		out := orient(src, o)
		if out.W*out.H != 6 || (o >= 5) != (out.W == 2) {
			t.Fatalf("orientation %d turned 3x2 into %dx%d", o, out.W, out.H)
		}
		var seen [7]bool
		for i := 0; i < len(out.Pix); i += 3 {
			seen[out.Pix[i]] = true
		}
		for v := 1; v <= 6; v++ {
			if !seen[v] {
				t.Fatalf("orientation %d lost pixel %d", o, v)
			}
		}
	})
}

// FuzzGIFPalette reads the first frame's colour table and transparent
// index as PIL uses them, and checks them against what Go's decoder used
// for that frame: the same table (Go sets the transparent entry to
// transparent black, and may lengthen the table to reach an out-of-range
// transparent index), the same transparent index.
func FuzzGIFPalette(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		palette, trans, perr := gifFirstPalette(data)
		if perr == nil && (len(palette)%3 != 0 || trans < -1 || trans > 255) {
			t.Fatalf("palette of %d bytes, transparent index %d", len(palette), trans)
		}
		cfg, err := gif.DecodeConfig(bytes.NewReader(data))
		if err != nil || int64(cfg.Width)*int64(cfg.Height) > 1<<20 {
			return
		}
		img, err := gif.Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		pm, ok := img.(*image.Paletted)
		if !ok {
			return
		}
		if perr != nil {
			t.Fatalf("Go decodes the first frame; the palette walker: %v", perr)
		}
		n := len(palette) / 3
		if len(pm.Palette) < n {
			t.Fatalf("Go's frame has %d colours, the walker's table %d", len(pm.Palette), n)
		}
		for i := 0; i < n; i++ {
			want := color.RGBA{palette[3*i], palette[3*i+1], palette[3*i+2], 0xff}
			got := color.RGBAModel.Convert(pm.Palette[i]).(color.RGBA)
			if i == trans {
				if got.A != 0 {
					t.Fatalf("Go's colour %d is opaque, the walker's transparent index", i)
				}
				continue
			}
			if got != want {
				t.Fatalf("colour %d: Go %v, the walker %v (transparent index %d)", i, got, want, trans)
			}
		}
		if trans >= n && len(pm.Palette) <= trans {
			t.Fatalf("transparent index %d past Go's %d colours", trans, len(pm.Palette))
		}
	})
}

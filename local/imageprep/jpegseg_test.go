package imageprep_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// splice returns b with ins inserted at at.
func splice(b []byte, at int, ins string) []byte {
	out := append([]byte{}, b[:at]...)
	out = append(out, ins...)
	return append(out, b[at:]...)
}

// TestJPEGStandaloneMarkers: markers without a length (RST0-7, TEM), fill
// bytes, stray bytes and stuffed FF 00 between header segments are read as
// libjpeg reads them, so the frame size, the EXIF orientation and the Adobe
// marker are all found, and the image decodes to the pixels of the file
// without them. exif_6.jpg is 151x97 with orientation 6 (97x151 upright);
// its APP1 "Exif" segment is at offset 20, right after APP0. Pillow
// (9.4, over libjpeg) gives 97x151 for every case marked upright, and
// refuses TEM and the bytes after SOI at 2.
func TestJPEGStandaloneMarkers(t *testing.T) {
	exif := mustRead(t, fixtures.Fixture("preprocess", "exif_6.jpg"))
	cmyk := mustRead(t, fixtures.Fixture("preprocess", "jpeg_cmyk.jpg"))
	tests := []struct {
		name string
		src  []byte
		at   int
		ins  string
		// goFails: Go's image/jpeg refuses it (TEM is "unknown marker"
		// there); libjpeg-turbo decodes it.
		goFails bool
	}{
		{"RST0 before APP1", exif, 20, "\xff\xd0", false},
		{"RST7 after SOI", exif, 2, "\xff\xd7", false},
		{"TEM before APP1", exif, 20, "\xff\x01", true},
		{"TEM after SOI", exif, 2, "\xff\x01", true},
		{"fill bytes before APP1", exif, 20, "\xff\xff\xff", false},
		{"stray byte before APP1", exif, 20, "\x00", false},
		{"stray bytes after SOI", exif, 2, "abc", false},
		{"stuffed FF00 before APP1", exif, 20, "\xff\x00", false},
		{"RST0 before Adobe APP14", cmyk, 2, "\xff\xd0", false},
		{"fill bytes before Adobe APP14", cmyk, 2, "\xff\xff", false},
		{"stray byte before Adobe APP14", cmyk, 2, "\x00", false},
	}
	forEachJPEGDecoder(t, func(t *testing.T, decoder string) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				want, err := imageprep.Decode(tc.src, imageprep.Limits{})
				require.NoError(t, err)
				data := splice(tc.src, tc.at, tc.ins)
				_, cfg, err := imageprep.Config(data)
				require.NoError(t, err)
				assert.Equal(t, [2]int{151, 97}, [2]int{cfg.Width, cfg.Height}, "frame header")
				got, err := imageprep.Decode(data, imageprep.Limits{})
				if tc.goFails && decoder == imageprep.JPEGGo {
					require.ErrorIs(t, err, imageprep.ErrCorrupt)
					return
				}
				require.NoError(t, err)
				require.Equal(t, [2]int{want.W, want.H}, [2]int{got.W, got.H}, "orientation")
				assert.Equal(t, want.Pix, got.Pix, "pixels (the Adobe inversion for CMYK)")
			})
		}
		// A second SOI, or an EOI, inside the header: nothing decodes it.
		for _, ins := range []string{"\xff\xd8", "\xff\xd9"} {
			_, err := imageprep.Decode(splice(exif, 20, ins), imageprep.Limits{})
			assert.Error(t, err, "% x", ins)
		}
	})
}

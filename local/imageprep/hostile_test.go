package imageprep_test

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/testdata"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// BombJPEG is a JPEG header claiming 65000x65000 pixels.
func BombJPEG() []byte {
	b := []byte{0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 8, 0xfd, 0xe8, 0xfd, 0xe8, 3,
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1}
	return append(b, 0xff, 0xd9)
}

// BombPNG is a valid 20000x20000 1-bit grayscale PNG (about 50 KB).
func BombPNG(tb testing.TB) []byte {
	tb.Helper()
	const side = 20000
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var hdr [8]byte
		binary.BigEndian.PutUint32(hdr[:4], uint32(len(data)))
		copy(hdr[4:], typ)
		buf.Write(hdr[:])
		buf.Write(data)
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		binary.Write(&buf, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], side)
	binary.BigEndian.PutUint32(ihdr[4:], side)
	ihdr[8], ihdr[9] = 1, 0 // bit depth 1, grayscale
	chunk("IHDR", ihdr)
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	row := make([]byte, 1+side/8)
	for i := 0; i < side; i++ {
		zw.Write(row)
	}
	require.NoError(tb, zw.Close())
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return buf.Bytes()
}

func TestHostileInputs(t *testing.T) {
	png, err := os.ReadFile(testdata.Fixture("images", "red_circle.png"))
	require.NoError(t, err)
	jpg, err := os.ReadFile(testdata.Fixture("images", "yellow_star.jpg"))
	require.NoError(t, err)
	bombPNG := BombPNG(t)

	tests := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"empty", nil, imageprep.ErrEmpty, "empty"},
		{"text", []byte("hello, I am not an image\n"), imageprep.ErrUnknown, "not a supported image"},
		{"html error page", []byte("<!DOCTYPE html><html>404</html>"), imageprep.ErrUnknown, ""},
		{"truncated png", png[:len(png)/2], imageprep.ErrCorrupt, "png"},
		{"truncated jpeg", jpg[:len(jpg)/2], imageprep.ErrCorrupt, "jpeg"},
		{"jpeg header only", jpg[:200], imageprep.ErrCorrupt, ""},
		{"png signature only", png[:8], imageprep.ErrCorrupt, ""},
		{"65000x65000 jpeg header", BombJPEG(), imageprep.ErrTooLarge, "65000x65000"},
		{"20000x20000 png", bombPNG, imageprep.ErrTooLarge, "20000x20000"},
		{"gif garbage", []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00garbage"), imageprep.ErrCorrupt, ""},
		{"riff not webp", []byte("RIFF\x10\x00\x00\x00WEBPVP8 \x00"), imageprep.ErrCorrupt, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := imageprep.Decode(tc.data, imageprep.Limits{})
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "refusing must not allocate the image")
		})
	}

	// A lower limit is honoured, and the same image passes the default.
	_, err = imageprep.Decode(png, imageprep.Limits{MaxPixels: 1000})
	assert.ErrorIs(t, err, imageprep.ErrTooLarge)
	_, err = imageprep.Decode(png, imageprep.Limits{MaxBytes: 100})
	assert.ErrorIs(t, err, imageprep.ErrTooLarge)
	_, err = imageprep.ReadAll(bytes.NewReader(png), imageprep.Limits{MaxBytes: 100})
	assert.ErrorIs(t, err, imageprep.ErrTooLarge)
}

// FuzzDecode: no input may panic or allocate past the limits.
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"red_circle.png", "yellow_star.jpg"} {
		data, err := os.ReadFile(testdata.Fixture("images", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, name := range []string{"gif_trns.gif", "lossy.webp", "rgb.bmp", "rgb.tiff", "exif_6.jpg"} {
		data, err := os.ReadFile(testdata.Fixture("preprocess", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(BombJPEG())
	p := imageprep.CLIPProcessor(32)
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := imageprep.Decode(data, imageprep.Limits{MaxPixels: 1 << 20})
		if err != nil {
			return
		}
		if _, err := p.Pixels(img); err != nil {
			t.Fatalf("decoded %dx%d but preprocessing failed: %v", img.W, img.H, err)
		}
	})
}

package imageprep_test

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// benchJPEG is a 1024x768 photo-like JPEG from make bench's folder, or a
// fixture image scaled up when that folder is absent.
func benchJPEG(b *testing.B) []byte {
	if m, _ := filepath.Glob(filepath.Join(fixtures.Root(), ".bench", "jpeg-1024x768", "*.jpg")); len(m) > 0 {
		data, err := os.ReadFile(m[0])
		if err == nil {
			return data
		}
	}
	data, err := os.ReadFile(fixtures.Fixture("images", "yellow_star.jpg"))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkDecodeJPEG(b *testing.B) {
	data := benchJPEG(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := imageprep.Decode(data, imageprep.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStdlibJPEG(b *testing.B) {
	data := benchJPEG(b)
	for b.Loop() {
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFromYCbCr(b *testing.B) {
	img, err := jpeg.Decode(bytes.NewReader(benchJPEG(b)))
	if err != nil {
		b.Fatal(err)
	}
	_ = img.(*image.YCbCr)
	for b.Loop() {
		imageprep.FromImage(img)
	}
}

func BenchmarkPreprocess(b *testing.B) {
	rgb, err := imageprep.Decode(benchJPEG(b), imageprep.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	p := imageprep.CLIPProcessor(224)
	dst := make([]float32, 3*224*224)
	for b.Loop() {
		if err := p.Preprocess(rgb, dst); err != nil {
			b.Fatal(err)
		}
	}
}

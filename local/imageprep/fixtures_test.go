package imageprep_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// TestFixturePreprocess covers what the shared goldens do not: every JPEG
// subsampling, progressive, gray and CMYK JPEGs, all EXIF orientations,
// alpha, 16-bit and palette PNGs, GIF transparency, lossy and lossless
// WebP, BMP, TIFF, upscaling, every PIL filter and crop padding. Goldens are
// Pillow's output through CLIPImageProcessor's steps (scripts/fixtures).
func TestFixturePreprocess(t *testing.T) {
	dir := fixtures.Fixture("preprocess")
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	require.NoError(t, err)
	var m struct {
		Mean, Std [3]float32
		Cases     []struct {
			File, Class, Golden, Note string
			ShortestEdge              int `json:"shortest_edge"`
			Crop, Resample            int
		}
	}
	require.NoError(t, json.Unmarshal(raw, &m))
	require.NotEmpty(t, m.Cases)
	forEachJPEGDecoder(t, func(t *testing.T, decoder string) {
		for _, c := range m.Cases {
			t.Run(c.File, func(t *testing.T) {
				data, err := os.ReadFile(filepath.Join(dir, c.File))
				require.NoError(t, err)
				want, err := imageprep.Decode(mustRead(t, filepath.Join(dir, c.Golden)), imageprep.Limits{})
				require.NoError(t, err)

				p := imageprep.CLIPProcessor(c.ShortestEdge)
				p.CropHeight, p.CropWidth = c.Crop, c.Crop
				p.Resample = imageprep.Filter(c.Resample)
				img, err := imageprep.Decode(data, imageprep.Limits{})
				require.NoError(t, err)
				got, err := p.Pixels(img)
				require.NoError(t, err)
				require.Equal(t, [2]int{want.W, want.H}, [2]int{got.W, got.H})

				var total, worst float64
				for i := range want.Pix {
					d := math.Abs(float64(got.Pix[i]) - float64(want.Pix[i]))
					total += d
					worst = math.Max(worst, d)
				}
				mean := total / float64(len(want.Pix))
				t.Logf("%-22s %-10s mean %.4f max %.0f  %s", c.File, c.Class, mean, worst, c.Note)
				th := threshold(c.Class, decoder)
				assert.LessOrEqual(t, mean, th.mean)
				assert.LessOrEqual(t, worst, th.max)
			})
		}
	})
}

// forEachJPEGDecoder runs fn with each JPEG decoder this machine has:
// libjpeg-turbo (when it loads; $HYBRIDEMBED_REQUIRE_TURBOJPEG makes its
// absence a failure) and Go's.
func forEachJPEGDecoder(t *testing.T, fn func(t *testing.T, decoder string)) {
	defer imageprep.SetJPEGDecoder("")
	for _, name := range []string{imageprep.JPEGTurbo, imageprep.JPEGGo} {
		t.Run(name, func(t *testing.T) {
			if err := imageprep.SetJPEGDecoder(name); err != nil {
				if os.Getenv("HYBRIDEMBED_REQUIRE_TURBOJPEG") != "" {
					t.Fatalf("%v", err)
				}
				t.Skipf("skipping: %v", err)
			}
			fn(t, name)
		})
	}
}

// threshold is the allowed difference from Pillow: none at all for JPEGs
// that libjpeg-turbo decodes, since Pillow decodes with it too.
func threshold(class, decoder string) struct{ mean, max float64 } {
	if class == "jpeg" && decoder == imageprep.JPEGTurbo {
		return struct{ mean, max float64 }{0, 0}
	}
	return thresholds[class]
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

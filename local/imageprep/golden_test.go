package imageprep_test

import (
	"crypto/sha256"
	"encoding/hex"
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

type manifest struct {
	Mean   [3]float32 `json:"mean"`
	Std    [3]float32 `json:"std"`
	Images []struct {
		File       string `json:"file"`
		SHA256     string `json:"sha256"`
		Class      string `json:"class"`
		Oriented   [2]int `json:"oriented_size"`
		Resized    [2]int `json:"resized_size"`
		GoldenRGB  string `json:"golden_rgb"`
		PixelMeans []float64
	} `json:"images"`
}

// Thresholds in 8-bit levels against CLIPImageProcessor's pixels.
var thresholds = map[string]struct{ mean, max float64 }{
	"lossless":   {mean: 1, max: 1},
	"jpeg":       {mean: 0.25, max: 4},
	"webp-lossy": {mean: 1.0, max: 255},
}

// TestGoldenPreprocess compares our RGB, just before normalisation, with the
// pixels CLIPImageProcessor feeds openai/clip-vit-base-patch32, and the
// normalised values with what those pixels normalise to.
func TestGoldenPreprocess(t *testing.T) {
	dir := fixtures.Golden(t, "preprocess")
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	require.NoError(t, err)
	var m manifest
	require.NoError(t, json.Unmarshal(raw, &m))
	p := imageprep.CLIPProcessor(224)
	p.Mean, p.Std = m.Mean, m.Std

	forEachJPEGDecoder(t, func(t *testing.T, decoder string) {
		for _, img := range m.Images {
			t.Run(img.File, func(t *testing.T) {
				data, err := os.ReadFile(filepath.Join(dir, img.File))
				require.NoError(t, err)
				sum := sha256.Sum256(data)
				require.Equal(t, img.SHA256, hex.EncodeToString(sum[:]), "golden image changed")
				want, err := os.ReadFile(filepath.Join(dir, img.GoldenRGB))
				require.NoError(t, err)

				rgb, err := imageprep.Decode(data, imageprep.Limits{})
				require.NoError(t, err)
				assert.Equal(t, img.Oriented, [2]int{rgb.W, rgb.H}, "oriented size")
				px, err := p.Pixels(rgb)
				require.NoError(t, err)
				require.Len(t, px.Pix, len(want))

				var total, worst float64
				for i := range want {
					d := math.Abs(float64(px.Pix[i]) - float64(want[i]))
					total += d
					worst = math.Max(worst, d)
				}
				mean := total / float64(len(want))
				t.Logf("%-22s %-10s mean |diff| %.4f levels, max %.0f", img.File, img.Class, mean, worst)
				_, ok := thresholds[img.Class]
				require.Truef(t, ok, "unknown class %q", img.Class)
				th := threshold(img.Class, decoder)
				assert.LessOrEqual(t, mean, th.mean)
				assert.LessOrEqual(t, worst, th.max)

				// The float path: our normalisation of the golden pixels must
				// be numpy's exactly.
				dst := make([]float32, 3*224*224)
				require.NoError(t, p.Preprocess(rgb, dst))
				lutCheck := imageprep.RGB{W: 224, H: 224, Pix: want}
				gold := make([]float32, len(dst))
				require.NoError(t, p.Preprocess(&lutCheck, gold))
				for c := 0; c < 3; c++ {
					v := want[c]
					x := (float32(float64(v)*(1.0/255)) - m.Mean[c]) / m.Std[c]
					assert.Equal(t, x, gold[c*224*224], "channel %d normalisation", c)
				}
			})
		}
	})
}

package imageprep_test

import (
	"fmt"
	"image"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/local/imageprep"
)

// TestSIMDMatchesScalar checks the AVX2 resampling kernels against the
// scalar code (which the Pillow goldens pin) byte for byte: every filter,
// shrinking and enlarging, odd widths whose rows do not fill a vector,
// crops that end at the last pixel of the last row, and images at the
// extremes where the bicubic and Lanczos lobes overshoot and clamp.
func TestSIMDMatchesScalar(t *testing.T) {
	if !imageprep.HasSIMD() {
		t.Skip("this CPU or build has no AVX2 kernels: only the scalar resampler runs here")
	}
	defer imageprep.SetSIMD(imageprep.SetSIMD(true))
	sizes := []struct{ sw, sh, ow, oh int }{
		{1024, 768, 298, 224}, {768, 1024, 224, 298}, {4000, 3000, 298, 224},
		{37, 23, 224, 224}, {225, 224, 224, 224}, {224, 225, 224, 224},
		{1, 1, 7, 5}, {3, 2, 1, 1}, {640, 480, 11, 3}, {333, 111, 100, 400},
		{17, 1, 5, 1}, {1, 17, 1, 5},
	}
	filters := []imageprep.Filter{imageprep.Bicubic, imageprep.Bilinear, imageprep.Lanczos, imageprep.Box, imageprep.Hamming}
	r := rand.New(rand.NewPCG(1, 2))
	for _, sz := range sizes {
		for _, kind := range []string{"noise", "checker", "white", "black"} {
			src := &imageprep.RGB{W: sz.sw, H: sz.sh, Pix: make([]uint8, sz.sw*sz.sh*3)}
			for i := range src.Pix {
				switch kind {
				case "noise":
					src.Pix[i] = uint8(r.IntN(256))
				case "checker":
					if (i/3%sz.sw+i/3/sz.sw)%2 == 0 {
						src.Pix[i] = 255
					}
				case "white":
					src.Pix[i] = 255
				}
			}
			for _, f := range filters {
				name := fmt.Sprintf("%dx%d-%dx%d-%s-%s", sz.sw, sz.sh, sz.ow, sz.oh, kind, f)
				imageprep.SetSIMD(false)
				want, err := imageprep.Resize(src, sz.ow, sz.oh, f)
				require.NoError(t, err, name)
				imageprep.SetSIMD(true)
				got, err := imageprep.Resize(src, sz.ow, sz.oh, f)
				require.NoError(t, err, name)
				require.Equal(t, want.Pix, got.Pix, name)
			}
		}
	}
	// The CLIP path (resize with a centre crop, computed inside the crop
	// only) on a non-square image, both orientations.
	p := imageprep.CLIPProcessor(224)
	for _, sz := range []image.Point{{1024, 768}, {768, 1024}, {300, 1000}} {
		src := &imageprep.RGB{W: sz.X, H: sz.Y, Pix: make([]uint8, sz.X*sz.Y*3)}
		for i := range src.Pix {
			src.Pix[i] = uint8(r.IntN(256))
		}
		imageprep.SetSIMD(false)
		want, err := p.Pixels(src)
		require.NoError(t, err)
		imageprep.SetSIMD(true)
		got, err := p.Pixels(src)
		require.NoError(t, err)
		require.Equal(t, want.Pix, got.Pix, "%v", sz)
	}
}

package imageprep_test

import (
	"fmt"
	"image"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/local/imageprep"
)

// TestSIMDMatchesScalar checks the AVX2 and AVX-512 resampling kernels against the
// scalar code (which the Pillow goldens pin) byte for byte: every filter,
// shrinking and enlarging, odd widths whose rows do not fill a vector,
// crops that end at the last pixel of the last row, and images at the
// extremes where the bicubic and Lanczos lobes overshoot and clamp.
func TestSIMDMatchesScalar(t *testing.T) {
	if imageprep.MaxSIMD() == imageprep.SIMDNone {
		t.Skip("this CPU or build has no vector kernels: only the scalar resampler runs here")
	}
	if imageprep.MaxSIMD() < imageprep.SIMDAVX512 {
		t.Log("this CPU has no AVX-512: only the AVX2 kernels are checked")
	}
	defer imageprep.SetSIMD(imageprep.SetSIMD(imageprep.SIMDNone))
	levels := []int{imageprep.SIMDAVX2, imageprep.SIMDAVX512}
	sizes := []struct{ sw, sh, ow, oh int }{
		{1024, 768, 298, 224}, {768, 1024, 224, 298}, {1600, 1200, 149, 112},
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
				imageprep.SetSIMD(imageprep.SIMDNone)
				want, err := imageprep.Resize(src, sz.ow, sz.oh, f)
				require.NoError(t, err, name)
				for _, level := range levels {
					imageprep.SetSIMD(level)
					got, err := imageprep.Resize(src, sz.ow, sz.oh, f)
					require.NoError(t, err, name)
					require.Equal(t, want.Pix, got.Pix, "%s, kernel level %d", name, level)
				}
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
		imageprep.SetSIMD(imageprep.SIMDNone)
		want, err := p.Pixels(src)
		require.NoError(t, err)
		for _, level := range levels {
			imageprep.SetSIMD(level)
			got, err := p.Pixels(src)
			require.NoError(t, err)
			require.Equal(t, want.Pix, got.Pix, "%v, kernel level %d", sz, level)
		}
	}
}

// TestSIMDMatchesScalarRandom: random sizes both ways, every filter, every
// kernel level, against the scalar code.
func TestSIMDMatchesScalarRandom(t *testing.T) {
	if imageprep.MaxSIMD() == imageprep.SIMDNone {
		t.Skip("this CPU or build has no vector kernels: only the scalar resampler runs here")
	}
	defer imageprep.SetSIMD(imageprep.SetSIMD(imageprep.SIMDNone))
	filters := []imageprep.Filter{imageprep.Bicubic, imageprep.Bilinear, imageprep.Lanczos, imageprep.Box, imageprep.Hamming}
	r := rand.New(rand.NewPCG(3, 4))
	for c := range 300 {
		sw, sh := 1+r.IntN(300), 1+r.IntN(300)
		ow, oh := 1+r.IntN(120), 1+r.IntN(120)
		src := &imageprep.RGB{W: sw, H: sh, Pix: make([]uint8, sw*sh*3)}
		for i := range src.Pix {
			src.Pix[i] = uint8(r.IntN(256))
		}
		f := filters[c%len(filters)]
		imageprep.SetSIMD(imageprep.SIMDNone)
		want, err := imageprep.Resize(src, ow, oh, f)
		require.NoError(t, err)
		for _, level := range []int{imageprep.SIMDAVX2, imageprep.SIMDAVX512} {
			imageprep.SetSIMD(level)
			got, err := imageprep.Resize(src, ow, oh, f)
			require.NoError(t, err)
			require.Equal(t, want.Pix, got.Pix, "%dx%d -> %dx%d %s, level %d", sw, sh, ow, oh, f, level)
		}
	}
}

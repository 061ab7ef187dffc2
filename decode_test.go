package hybridembed_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// photoLike is a camera-sized JPEG with what photos have: smooth
// gradients, edges, texture and sensor noise.
func photoLike(t *testing.T, seed uint64, w, h int) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 3))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	type blob struct {
		x, y, rad float64
		c         [3]float64
	}
	var blobs []blob
	for range 12 {
		blobs = append(blobs, blob{r.Float64() * float64(w), r.Float64() * float64(h), (0.05 + 0.2*r.Float64()) * float64(w),
			[3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255}})
	}
	for y := range h {
		for x := range w {
			c := [3]float64{40 + 150*float64(y)/float64(h), 90 + 80*float64(x)/float64(w), 160 - 100*float64(y)/float64(h)}
			for _, b := range blobs {
				if dx, dy := float64(x)-b.x, float64(y)-b.y; dx*dx+dy*dy < b.rad*b.rad {
					c = b.c
				}
			}
			tex := 12 * math.Sin(float64(x)/7) * math.Cos(float64(y)/5)
			px := [3]uint8{}
			for i := range c {
				px[i] = uint8(max(0, min(255, c[i]+tex+r.NormFloat64()*6)))
			}
			img.Set(x, y, color.RGBA{px[0], px[1], px[2], 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}))
	return buf.Bytes()
}

// TestFastDecodeFidelity: --decode fast gives vectors within cosine 0.999
// of the exact path on photo-like camera-sized JPEGs, for the fixture
// models' input sizes (224 and 64).
func TestFastDecodeFidelity(t *testing.T) {
	if name, why := imageprep.JPEGDecoder(); name != imageprep.JPEGTurbo {
		if os.Getenv("HYBRIDEMBED_REQUIRE_TURBOJPEG") != "" { // make test, where it installed
			t.Fatalf("fast decoding needs libjpeg-turbo: %v", why)
		}
		t.Skipf("fast decoding needs libjpeg-turbo: %v", why)
	}
	ctx := context.Background()
	photos := [][]byte{photoLike(t, 1, 4000, 3000), photoLike(t, 2, 3000, 4000), photoLike(t, 3, 2048, 1536)}
	for _, model := range []string{"tiny-clip", "shapes-clip"} {
		dir := fixtures.Fixture("models", model)
		vectors := map[string][]hybridembed.Embedding{}
		for _, mode := range []string{hybridembed.DecodeExact, hybridembed.DecodeFast} {
			m, err := newEmbedder(t, hybridembed.WithDecode(mode)).Model(ctx, dir)
			require.NoError(t, err)
			images := make([]hybridembed.Image, len(photos))
			for i, p := range photos {
				images[i] = hybridembed.ImageReader("photo", bytes.NewReader(p))
			}
			vectors[mode], err = m.EmbedImages(ctx, images)
			require.NoError(t, err)
		}
		for i := range photos {
			c := hybridembed.Cosine(vectors[hybridembed.DecodeExact][i].Vector, vectors[hybridembed.DecodeFast][i].Vector)
			t.Logf("%s photo %d: cosine fast vs exact %.6f", model, i, c)
			assert.GreaterOrEqual(t, c, 0.999, "%s photo %d", model, i)
		}
	}
	_, err := hybridembed.New(hybridembed.WithDecode("quick"))
	assert.ErrorContains(t, err, "WithDecode")
}

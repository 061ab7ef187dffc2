package imageprep_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/local/imageprep"
)

// TestRecycleKeepsImagesApart decodes many JPEGs of two sizes on several
// goroutines that recycle each image as soon as they have checked it: a
// recycled buffer handed to the next decode must never show through in
// another image (the race detector watches the sharing too).
func TestRecycleKeepsImagesApart(t *testing.T) {
	const n = 8
	files := make([][]byte, n)
	want := make([][]byte, n)
	for i := range files {
		w, h := 64+16*(i%2), 48
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				img.Set(x, y, color.RGBA{uint8(30 * i), uint8(x * 3), uint8(y * 5), 255})
			}
		}
		var buf bytes.Buffer
		require.NoError(t, jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}))
		files[i] = buf.Bytes()
		ref, err := imageprep.Decode(files[i], imageprep.Limits{})
		require.NoError(t, err)
		want[i] = bytes.Clone(ref.Pix)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 200 {
				i := (k + g) % n
				img, err := imageprep.Decode(files[i], imageprep.Limits{})
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(img.Pix, want[i]) {
					errs <- fmt.Errorf("image %d differs after recycling", i)
					return
				}
				imageprep.Recycle(img)
				if img.Pix != nil {
					errs <- fmt.Errorf("a recycled image keeps its pixels")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	imageprep.Recycle(nil)                                               // no-op
	imageprep.Recycle(&imageprep.RGB{W: 1, H: 1, Pix: []uint8{1, 2, 3}}) // not from a decoder: untouched
}

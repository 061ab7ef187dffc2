// Package benchkit holds what the benchmarks share: the photo-like JPEG
// folders they time, written once and reused.
package benchkit

import (
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"

	"github.com/hybridembed/hybridembed"
)

// FolderImages lists a folder's JPEGs, sorted, as images to embed.
func FolderImages(dir string) []hybridembed.Image {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
	sort.Strings(paths)
	images := make([]hybridembed.Image, len(paths))
	for i, p := range paths {
		images[i] = hybridembed.ImageFile(p)
	}
	return images
}

// MakeFolder writes n photo-like JPEGs (smooth shading, edges, sensor-like
// noise; 4:2:0, quality 90) unless they are there already.
func MakeFolder(dir string, w, h, n int) error {
	if m, _ := filepath.Glob(filepath.Join(dir, "*.jpg")); len(m) >= n {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	log.Printf("writing %d %dx%d JPEGs to %s", n, w, h, dir)
	for i := 0; i < n; i++ {
		r := rand.New(rand.NewPCG(uint64(i), uint64(w)))
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		fx, fy := r.Float64()*0.02+0.002, r.Float64()*0.02+0.002
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := 128 + 90*math.Sin(float64(x)*fx+float64(i))*math.Cos(float64(y)*fy) + r.NormFloat64()*8
				if (x/(w/7)+y/(h/5))%3 == 0 {
					v = 255 - v
				}
				img.Y[y*img.YStride+x] = uint8(math.Max(0, math.Min(255, v)))
			}
		}
		for y := 0; y < (h+1)/2; y++ {
			for x := 0; x < (w+1)/2; x++ {
				c := color.YCbCr{Cb: uint8(128 + 60*math.Sin(float64(x)*fy*2)), Cr: uint8(128 + 60*math.Cos(float64(y)*fx*2))}
				img.Cb[y*img.CStride+x], img.Cr[y*img.CStride+x] = c.Cb, c.Cr
			}
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("img%03d.jpg", i)))
		if err != nil {
			return err
		}
		if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 90}); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

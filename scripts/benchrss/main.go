// Command benchrss checks that decoding JPEGs holds no native memory: it
// decodes one JPEG -n times with a garbage collection between decodes and
// reports how much the process's resident set grew after a warm-up. Go's
// heap is collected each time, so what grows is C memory that Go's
// profiler cannot see, such as libjpeg-turbo handles that are dropped
// without being destroyed (sync.Pool drops what it holds at a GC).
//
//	go run ./scripts/benchrss [-n 25000] [-max-growth-mb 5]
//
// Two paths are measured: imageprep.Decode as a library caller makes it
// (the gallery's thumbnails), and images embedded one call at a time
// through an Embedder with the tiny-clip fixture (the engine's decoding
// pool and its handles, and ONNX Runtime's tensors). It exits 1 when
// either grows by more than -max-growth-mb, or when libjpeg-turbo cannot
// be loaded (the measurement would then say nothing about it).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"log"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/local/imageprep"

	_ "github.com/hybridembed/hybridembed/local" // registers libjpeg-turbo with imageprep
)

func main() {
	n := flag.Int("n", 25000, "decodes per path, each followed by a GC")
	warm := flag.Int("warmup", 1000, "decodes before the first measurement")
	model := flag.String("model", "testdata/models/tiny-clip", "a CLIP model directory for the engine path")
	maxGrowth := flag.Float64("max-growth-mb", 5, "the most the resident set may grow after warm-up")
	flag.Parse()
	log.SetFlags(0)

	if name, why := imageprep.JPEGDecoder(); name != imageprep.JPEGTurbo {
		log.Fatalf("benchrss: JPEGs would decode with Go's decoder (%v): install libjpeg-turbo with scripts/install-libjpeg-turbo.sh", why)
	}
	if _, err := rss(); err != nil {
		log.Fatalf("benchrss: cannot read the resident set here: %v", err)
	}
	data := sampleJPEG(640, 480)

	library := measure("imageprep.Decode", *n, *warm, func() error {
		img, err := imageprep.Decode(data, imageprep.Limits{})
		if err == nil {
			imageprep.Recycle(img)
		}
		return err
	})

	emb, err := hybridembed.New(hybridembed.WithDevice("cpu"), hybridembed.WithOffline(true), hybridembed.WithoutEnvironment(),
		hybridembed.WithMaxWait(time.Microsecond))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	m, err := emb.Model(ctx, *model)
	if err != nil {
		log.Fatal(err)
	}
	engine := measure("Embedder.EmbedImages", *n, *warm, func() error {
		_, err := m.EmbedImages(ctx, []hybridembed.Image{hybridembed.ImageReader("sample.jpg", bytes.NewReader(data))})
		return err
	})
	if err := emb.Close(); err != nil {
		log.Fatal(err)
	}

	failed := false
	for _, r := range []result{library, engine} {
		verdict := "ok"
		if r.growthMB() > *maxGrowth {
			verdict, failed = fmt.Sprintf("FAIL: over %.0f MB", *maxGrowth), true
		}
		fmt.Printf("%-22s %d decodes with a GC after each: RSS %.1f MB after %d warm-up decodes -> %.1f MB (%+.1f MB; Go heap in use %.1f -> %.1f MB), %.0f decodes/s: %s\n",
			r.name, r.n, mb(r.before), r.warm, mb(r.after), r.growthMB(), mb(r.heapBefore), mb(r.heapAfter), r.rate, verdict)
	}
	if failed {
		os.Exit(1)
	}
}

type result struct {
	name                  string
	n, warm               int
	before, after         uint64
	heapBefore, heapAfter uint64
	rate                  float64
}

func (r result) growthMB() float64 { return (float64(r.after) - float64(r.before)) / (1 << 20) }

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

// measure runs fn warm times, then n times with a GC after each, and
// reads the resident set before and after the n.
func measure(name string, n, warm int, fn func() error) result {
	for range warm {
		if err := fn(); err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		runtime.GC()
	}
	r := result{name: name, n: n, warm: warm}
	r.before, r.heapBefore = settle()
	start := time.Now()
	for range n {
		if err := fn(); err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		runtime.GC()
	}
	r.rate = float64(n) / time.Since(start).Seconds()
	r.after, r.heapAfter = settle()
	return r
}

// settle collects twice (sync.Pool keeps a victim cache for one cycle) and
// reads the resident set and Go's heap in use.
func settle() (rssBytes, heap uint64) {
	runtime.GC()
	runtime.GC()
	v, err := rss()
	if err != nil {
		log.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return v, ms.HeapInuse
}

// rss is the resident set size, from /proc/self/statm (Linux).
func rss() (uint64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("/proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize()), err
}

// sampleJPEG is a w x h baseline 4:2:0 JPEG of smooth gradients.
func sampleJPEG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) % 256), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}

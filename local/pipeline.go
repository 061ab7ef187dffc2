package local

import (
	"context"
	"fmt"
	"sync"

	"github.com/hybridembed/hybridembed/local/imageprep"
)

// ImageSource is one image to embed. Decode runs on a worker goroutine and
// must honour the limits.
type ImageSource interface {
	Decode(limits imageprep.Limits) (*imageprep.RGB, error)
}

// prepared is one image after decoding and preprocessing.
type prepared struct {
	i      int
	pixels []float32
	h, w   int
	err    error
}

// EmbedImages embeds srcs, calling emit once per source, in completion order
// and from one goroutine at a time. Decoding and preprocessing run on worker
// goroutines while the previous batch is in the runtime, so the CPU-bound
// image work overlaps inference. A source that fails to decode fails alone;
// a runtime error fails the batch it hit, whose items are reported with it.
// Only a cancelled ctx stops the run early, and it returns ctx.Err().
func (m *Model) EmbedImages(ctx context.Context, srcs []ImageSource, emit func(i int, vec []float32, err error)) error {
	v, err := m.visionTower()
	if err != nil {
		return err
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	bs := m.eng.imageBatch()
	workers := min(m.eng.workers(), max(len(srcs), 1))
	jobs := make(chan int)
	ready := make(chan prepared, bs) // one batch can wait while another runs
	limits := m.eng.opts.Limits

	go func() {
		defer close(jobs)
		for i := range srcs {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				p := prepare(v, srcs[i], limits)
				p.i = i
				select {
				case ready <- p:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(ready) }()

	var batch []prepared
	flush := func() {
		if len(batch) == 0 {
			return
		}
		h, w := batch[0].h, batch[0].w
		n := len(batch)
		plane := 3 * h * w
		pixels := make([]float32, n*plane)
		for k, p := range batch {
			copy(pixels[k*plane:], p.pixels)
		}
		vecs, err := v.run(ctx, pixels, n, h, w)
		for k, p := range batch {
			if err != nil {
				emit(p.i, nil, fmt.Errorf("inference: %w", err))
			} else {
				emit(p.i, vecs[k], nil)
			}
		}
		batch = batch[:0]
	}
	for p := range ready {
		if ctx.Err() != nil {
			break
		}
		if p.err != nil {
			emit(p.i, nil, p.err)
			continue
		}
		// Images whose preprocessing gives another size (no center crop)
		// cannot share a tensor.
		if len(batch) > 0 && (batch[0].h != p.h || batch[0].w != p.w) {
			flush()
		}
		batch = append(batch, p)
		if len(batch) == bs {
			flush()
		}
	}
	if ctx.Err() == nil {
		flush()
	}
	cancel()
	for range ready { // let the workers finish and exit
	}
	return parent.Err()
}

// prepare decodes and preprocesses one image, turning a panic anywhere in
// that code into this image's error.
func prepare(v *visionTower, src ImageSource, limits imageprep.Limits) (p prepared) {
	defer func() {
		if r := recover(); r != nil {
			p = prepared{err: fmt.Errorf("preprocessing failed: %v", r)}
		}
	}()
	img, err := src.Decode(limits)
	if err != nil {
		return prepared{err: err}
	}
	h, w := v.proc.Shape(img.W, img.H)
	px := make([]float32, 3*h*w)
	if err := v.proc.Preprocess(img, px); err != nil {
		return prepared{err: err}
	}
	return prepared{pixels: px, h: h, w: w}
}

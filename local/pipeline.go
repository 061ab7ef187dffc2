package local

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/tokenize"
)

// ImageSource is one image to embed. Decode runs on one of the engine's
// decoding workers and must honour d's limits; d decodes with the
// engine's libjpeg-turbo handles. ctx ends when the call that submitted
// the image returns or is cancelled: a source that reads from the caller
// stops reading then. The image it returns is the engine's: once
// preprocessed it goes to [imageprep.Recycle].
type ImageSource interface {
	Decode(ctx context.Context, d imageprep.Decoder) (*imageprep.RGB, error)
}

// EmbedImages embeds srcs, calling emit once per source, in completion order
// and from the calling goroutine. Images are decoded and preprocessed on
// the engine's worker pool and run through the vision tower's batcher,
// shared with every other caller, while earlier batches are in the runtime.
// A source that fails to decode fails alone; a runtime error fails the
// images of the batch it hit. Only a cancelled ctx (returning its error) or
// a closed engine ([ErrClosed]) stops the run early. EmbedImages returns
// only once no source is being decoded, so a caller may close what its
// sources read from as soon as it returns.
func (m *Model) EmbedImages(ctx context.Context, srcs []ImageSource, emit func(i int, vec []float32, err error)) error {
	v, err := m.visionTower()
	if err != nil {
		return err
	}
	limits := m.eng.opts.Limits
	if m.eng.opts.FastDecode {
		limits.Draft = v.proc.DraftSize()
	}
	return m.stream(ctx, v.batch, len(srcs), func(ctx context.Context, i int) (*item, error) {
		// On a decoding worker: the pool, and its handles, exist.
		return prepare(ctx, v, srcs[i], imageprep.Decoder{Limits: limits, JPEG: m.eng.nativeJPEG()})
	}, emit, v.sess.Provider())
}

// stream feeds n items to b and hands each result to emit, from the calling
// goroutine, as it arrives. At most a window of items is in flight per
// call, so a caller with a million inputs holds a bounded amount of memory
// and cannot crowd others out of the queue. build makes item k: on the
// engine's decoding pool when pool names the device the items are for,
// else ("") on the feeding goroutine.
//
// stream returns only after the feeder and every build it started have
// ended (a build reads the caller's inputs; a cancelled one stops at its
// ctx): an item already queued holds only its tensor, which is the
// engine's, and is dropped by the batcher or answered into a buffer that
// nothing reads.
func (m *Model) stream(ctx context.Context, b *batcher, n int, build func(ctx context.Context, k int) (*item, error), emit func(k int, vec []float32, err error), pool ort.Device) error {
	if n == 0 {
		return nil
	}
	// Enough for every run's batch, the one gathering, and the decoders'.
	window := (b.runs+1)*b.max + m.eng.workers()
	type result struct {
		k   int
		vec []float32
		err error
	}
	results := make(chan result, window) // never full: slots bound what is out
	slots := make(chan struct{}, window)
	ctx, cancel := context.WithCancelCause(ctx)
	var started sync.WaitGroup // the feeder and the jobs it handed to the pool
	defer func() {
		cancel(nil)
		started.Wait()
	}()

	started.Go(func() {
		for k := range n {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			job := func() {
				if ctx.Err() != nil {
					results <- result{k: k, err: ctx.Err()}
					return
				}
				if pool != "" {
					// Counted until the item is queued (or has failed), so
					// that a batch gathering meanwhile waits for it.
					b.preparing.Add(1)
					defer b.preparing.Add(-1)
				}
				it, err := safeMake(ctx, build, k)
				if err != nil {
					results <- result{k: k, err: err}
					return
				}
				it.ctx = ctx
				it.more = k < n-1
				it.done = func(vec []float32, err error) { results <- result{k, vec, err} }
				if err := b.submit(it); err != nil {
					results <- result{k: k, err: err}
				}
			}
			if pool == "" {
				job()
				continue
			}
			started.Add(1)
			if err := m.eng.decode(ctx, pool, func() { defer started.Done(); job() }); err != nil {
				started.Done() // not handed over: it never runs
				cancel(err)
				return
			}
		}
	})
	for range n {
		select {
		case r := <-results:
			<-slots
			if errors.Is(r.err, ErrClosed) || errors.Is(r.err, errStopped) {
				cancel(r.err)
				return r.err
			}
			if r.err != nil && ctx.Err() != nil {
				return context.Cause(ctx)
			}
			emit(r.k, r.vec, r.err)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// safeMake turns a panic while building an item (decoding hostile input)
// into that item's error.
func safeMake(ctx context.Context, build func(context.Context, int) (*item, error), k int) (it *item, err error) {
	defer func() {
		if r := recover(); r != nil {
			it, err = nil, fmt.Errorf("preprocessing failed: %v", r)
		}
	}()
	return build(ctx, k)
}

// prepare decodes and preprocesses one image into a vision item.
func prepare(ctx context.Context, v *visionTower, src ImageSource, d imageprep.Decoder) (*item, error) {
	img, err := src.Decode(ctx, d)
	if err != nil {
		return nil, err
	}
	defer imageprep.Recycle(img)
	h, w := v.proc.Shape(img.W, img.H)
	if v.nhwc {
		rgb, err := v.proc.Pixels(img)
		if err != nil {
			return nil, err
		}
		return &item{h: h, w: w, data: rgb.Pix}, nil
	}
	px := getPlanes(3 * h * w)
	if err := v.proc.Preprocess(img, px); err != nil {
		putPlanes(px)
		return nil, err
	}
	return &item{h: h, w: w, data: px}, nil
}

// Images' preprocessed tensors (600 KB each at 224x224) and the batch
// tensors they are copied into (16 of them) are recycled: fresh ones cost
// the OS page faults and zeroing on every image.
var planePool, batchPool sync.Pool // of *[]float32

func getFloats(pool *sync.Pool, n int) []float32 {
	if p, ok := pool.Get().(*[]float32); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]float32, n)
}

func getPlanes(n int) []float32 { return getFloats(&planePool, n) }
func putPlanes(p []float32)     { planePool.Put(&p) }
func getBatch(n int) []float32  { return getFloats(&batchPool, n) }
func putBatch(p []float32)      { batchPool.Put(&p) }

// runItems runs one batch of images (all of one shape) through the tower,
// in smaller runs where the device has no memory for it (oomSplit).
func (v *visionTower) runItems(ctx context.Context, items []*item) ([][]float32, error) {
	h, w := items[0].h, items[0].w
	plane := 3 * h * w
	if v.nhwc {
		rgb := make([]uint8, len(items)*plane)
		for k, it := range items {
			copy(rgb[k*plane:], it.data.([]uint8))
		}
		return v.oom.run(ctx, len(items), func(ctx context.Context, lo, hi int) ([][]float32, error) {
			return v.run(ctx, nil, rgb[lo*plane:hi*plane], hi-lo, h, w)
		})
	}
	pixels := getBatch(len(items) * plane)
	defer putBatch(pixels)
	for k, it := range items {
		px := it.data.([]float32)
		copy(pixels[k*plane:], px)
		putPlanes(px)
	}
	return v.oom.run(ctx, len(items), func(ctx context.Context, lo, hi int) ([][]float32, error) {
		return v.run(ctx, pixels[lo*plane:hi*plane], nil, hi-lo, h, w)
	})
}

// runItems runs one batch of texts, padded to the longest, in smaller runs
// where the device has no memory for it (oomSplit).
func (t *textTower) runItems(ctx context.Context, items []*item) ([][]float32, error) {
	encs := make([]tokenize.Encoding, len(items))
	for k, it := range items {
		encs[k] = it.data.(tokenize.Encoding)
	}
	b := t.tok.Pad(encs)
	return t.oom.run(ctx, b.Rows, func(ctx context.Context, lo, hi int) ([][]float32, error) {
		return t.run(ctx, rowsOf(b, lo, hi))
	})
}

// rowsOf is rows [lo, hi) of a padded batch (the same columns).
func rowsOf(b tokenize.Batch, lo, hi int) tokenize.Batch {
	if lo == 0 && hi == b.Rows {
		return b
	}
	cut := func(v []int64) []int64 {
		if v == nil {
			return nil
		}
		return v[lo*b.Cols : hi*b.Cols]
	}
	return tokenize.Batch{Rows: hi - lo, Cols: b.Cols, IDs: cut(b.IDs), AttentionMask: cut(b.AttentionMask), TypeIDs: cut(b.TypeIDs)}
}

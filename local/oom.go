package local

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/hybridembed/hybridembed/local/ort"
)

// runner is what a tower runs its batches on: an *ort.Session, or in tests
// one that fails as a device would.
type runner interface {
	Run(ctx context.Context, inputs []ort.Tensor, outShapes [][]int64) ([]ort.Tensor, error)
	Path() string
}

// oomSplit runs a tower's batches so that running out of device memory
// costs speed, not inputs: a batch that fails with [ort.ErrOutOfMemory] is
// run again in halves (and those in halves, down to one input), and the
// largest size that then fitted is remembered, so later batches are cut to
// it before they reach the device. Safe for concurrent use.
type oomSplit struct {
	limit atomic.Int64 // the most rows a run may take; 0 until an OOM
	logf  func(format string, args ...any)
}

// run runs rows inputs with run(ctx, lo, hi), which runs rows [lo, hi) and
// returns their vectors in order.
func (o *oomSplit) run(ctx context.Context, rows int, run func(ctx context.Context, lo, hi int) ([][]float32, error)) ([][]float32, error) {
	if lim := int(o.limit.Load()); lim > 0 && rows > lim {
		return o.chunks(ctx, rows, lim, run)
	}
	vecs, err := run(ctx, 0, rows)
	if err == nil || !errors.Is(err, ort.ErrOutOfMemory) || ctx.Err() != nil {
		return vecs, err
	}
	if rows == 1 {
		return nil, fmt.Errorf("%w, even for a single input (the model does not fit the device's free memory: free the GPU, or run with --device cpu)", err)
	}
	half := (rows + 1) / 2
	if o.lower(half) && o.logf != nil {
		o.logf("out of device memory on a batch of %d; running at most %d at once from now on", rows, half)
	}
	return o.chunks(ctx, rows, half, run)
}

// chunks runs rows in runs of at most size, each through run's splitting.
func (o *oomSplit) chunks(ctx context.Context, rows, size int, run func(ctx context.Context, lo, hi int) ([][]float32, error)) ([][]float32, error) {
	out := make([][]float32, 0, rows)
	for lo := 0; lo < rows; lo += size {
		hi := min(rows, lo+size)
		vecs, err := o.run(ctx, hi-lo, func(ctx context.Context, a, b int) ([][]float32, error) { return run(ctx, lo+a, lo+b) })
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// lower sets the limit to n if that is below it, reporting whether it did.
func (o *oomSplit) lower(n int) bool {
	for {
		cur := o.limit.Load()
		if cur != 0 && cur <= int64(n) {
			return false
		}
		if o.limit.CompareAndSwap(cur, int64(n)) {
			return true
		}
	}
}

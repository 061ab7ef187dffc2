package local

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hybridembed/hybridembed/local/ort"
)

// runner is what a tower runs its batches on: an *ort.Session, or in tests
// one that fails as a device would.
type runner interface {
	Run(ctx context.Context, inputs []ort.Tensor, outShapes [][]int64) ([]ort.Tensor, error)
	Path() string
}

// After an out-of-memory split, a doubled limit is tried once probeFirst
// batches in a row have fitted at the current one; each probe that runs
// out of memory again doubles that wait (up to probeMaxWait), so a device
// that stays full costs one failed run per many batches, and a probe that
// fits starts the wait over.
const (
	probeFirst   = 8
	probeMaxWait = 1024
)

// oomSplit runs a tower's batches so that running out of device memory
// costs speed, not inputs: a batch that fails with [ort.ErrOutOfMemory] is
// run again in halves (and those in halves, down to one input), and the
// largest size that then fitted is remembered, so later batches are cut to
// it before they reach the device. Since the memory may have been taken by
// something that lets go of it (another process, a burst of long texts),
// the limit is probed back up: doubled after a run of batches that fitted
// (see probeFirst), until batches are no longer cut. Safe for concurrent
// use.
type oomSplit struct {
	mu     sync.Mutex
	limit  int  // the most rows a run may take; 0 until an OOM
	streak int  // batches in a row cut to limit that fitted
	wait   int  // the streak after which the limit is doubled; 0 means probeFirst
	probed bool // limit was doubled and no batch has fitted at it yet
	logf   func(format string, args ...any)
}

// current is the most rows a run may take, 0 for any number.
func (o *oomSplit) current() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.limit
}

// run runs rows inputs with run(ctx, lo, hi), which runs rows [lo, hi) and
// returns their vectors in order.
func (o *oomSplit) run(ctx context.Context, rows int, run func(ctx context.Context, lo, hi int) ([][]float32, error)) ([][]float32, error) {
	lim := o.current()
	vecs, err := o.split(ctx, rows, lim, run)
	switch {
	case err != nil || lim == 0:
	case rows > lim:
		o.fitted(lim)
	case 2*rows > lim:
		// Not cut, but more than the limit before the probe: the probe
		// fitted, though no batch is cut to it any more.
		o.probeFitted(lim)
	}
	return vecs, err
}

// probeFitted records a batch of more than half of lim that fitted: a
// probe up to lim succeeded, and a later out-of-memory waits probeFirst
// again, not the doubled wait of a failed probe.
func (o *oomSplit) probeFitted(lim int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.limit == lim && o.probed {
		o.probed, o.wait = false, 0
	}
}

// split runs rows inputs in runs of at most lim (0: all at once), halving
// a run that is out of memory.
func (o *oomSplit) split(ctx context.Context, rows, lim int, run func(ctx context.Context, lo, hi int) ([][]float32, error)) ([][]float32, error) {
	if lim > 0 && rows > lim {
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

// chunks runs rows in runs of at most size, each through split (at the
// limit as it then is, if that is lower).
func (o *oomSplit) chunks(ctx context.Context, rows, size int, run func(ctx context.Context, lo, hi int) ([][]float32, error)) ([][]float32, error) {
	out := make([][]float32, 0, rows)
	for lo := 0; lo < rows; lo += size {
		hi := min(rows, lo+size)
		lim := o.current()
		if lim == 0 || lim > size {
			lim = size
		}
		vecs, err := o.split(ctx, hi-lo, lim, func(ctx context.Context, a, b int) ([][]float32, error) { return run(ctx, lo+a, lo+b) })
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
	}
	return out, nil
}

// lower sets the limit to n if that is below it, reporting whether it did.
// Where the limit had just been doubled, the probe failed: the next one
// waits twice as long.
func (o *oomSplit) lower(n int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.limit != 0 && o.limit <= n {
		return false
	}
	if o.probed {
		o.wait = min(2*o.waitLocked(), probeMaxWait)
	}
	o.limit, o.streak, o.probed = n, 0, false
	return true
}

// fitted records a batch that was cut to lim and fitted, doubling the
// limit after enough of them.
func (o *oomSplit) fitted(lim int) {
	o.mu.Lock()
	if o.limit != lim { // lowered or raised meanwhile
		o.mu.Unlock()
		return
	}
	if o.probed {
		o.probed, o.wait = false, 0
	}
	o.streak++
	if o.streak < o.waitLocked() {
		o.mu.Unlock()
		return
	}
	n := o.streak
	o.limit, o.streak, o.probed = 2*lim, 0, true
	o.mu.Unlock()
	if o.logf != nil {
		o.logf("%d batches fitted in device memory at %d; trying %d at once", n, lim, 2*lim)
	}
}

func (o *oomSplit) waitLocked() int {
	if o.wait == 0 {
		return probeFirst
	}
	return o.wait
}

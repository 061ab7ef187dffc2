package local

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// item is one input waiting for a tower: its tensor data and where its
// vector goes.
type item struct {
	ctx context.Context
	// shape groups items that can share a tensor: an image's height and
	// width (0 for texts, which are padded to the longest in a batch).
	h, w int
	data any // []float32 pixels, or a tokenize.Encoding
	// more says that the same caller has further inputs on their way, so
	// a batch that is not full waits for them (see straggle).
	more bool
	// done receives the item's vector or error, exactly once, from the
	// runner; it must not block.
	done func(vec []float32, err error)
}

// batcher is one tower's queue and its runner: every caller feeds the
// bounded queue, and the runner runs what has gathered (up to max items, or
// what arrived within wait of the first) as one batch, so concurrent
// callers share batches. Up to runs batches are in the runtime at once; the
// next is gathered only when one of them is free to take it, so inputs
// queue up meanwhile and batches stay full; the last batch of a job is
// shared out between the runs. Items of a caller that has gone away are
// dropped before they reach the runtime.
type batcher struct {
	name  string
	queue chan *item
	max   int
	wait  time.Duration
	// straggle bounds the wait for inputs still on their way (the
	// constant straggle; tests shorten or lengthen it).
	straggle time.Duration
	run      func(ctx context.Context, items []*item) ([][]float32, error)
	ctx      context.Context // the engine's: cancelled on Close
	// runs is how many batches may be in the runtime at once (0 means 1;
	// startBatcher makes it so).
	runs int

	stopOnce sync.Once
	stop     chan struct{}
	stopped  chan struct{}

	batches, items atomic.Int64
	// preparing counts inputs for this tower being decoded right now: a
	// batch that is not full waits for them too (see straggle).
	preparing atomic.Int64
}

// newBatcher starts a batcher that runs up to runs (at least 1) batches at
// once, with a queue of two batches per run.
func newBatcher(ctx context.Context, name string, size, runs int, wait time.Duration, run func(context.Context, []*item) ([][]float32, error)) *batcher {
	return startBatcher(&batcher{name: name, queue: make(chan *item, 2*size*runs), max: size, runs: runs, wait: wait, straggle: straggle, run: run, ctx: ctx})
}

// startBatcher starts b's runner; tests set fields newBatcher fixes.
func startBatcher(b *batcher) *batcher {
	b.runs = max(1, b.runs)
	b.stop, b.stopped = make(chan struct{}), make(chan struct{})
	go b.loop()
	return b
}

// straggle is how long a batch that is not full waits for the next input
// of a caller that has more to send. It only has to outlast one input's
// preparation (a 12 MP photo decodes in 60 ms on a core here).
const straggle = 100 * time.Millisecond

// errStopped fails items submitted to a tower that is being unloaded.
var errStopped = errors.New("model unloaded")

// submit queues it, waiting while the queue is full. It returns an error
// (and it.done is not called) when it.ctx ends first or the tower stops.
func (b *batcher) submit(it *item) error {
	select {
	case b.queue <- it:
		return nil
	case <-it.ctx.Done():
		return it.ctx.Err()
	case <-b.stop:
		return errStopped
	case <-b.ctx.Done():
		return ErrClosed
	}
}

// close stops the runner once what is queued has been answered (with
// errStopped) and waits for it.
func (b *batcher) close() {
	b.stopOnce.Do(func() { close(b.stop) })
	<-b.stopped
}

func (b *batcher) loop() {
	slots := make(chan struct{}, b.runs)
	var running sync.WaitGroup
	defer func() {
		running.Wait()
		close(b.stopped)
	}()
	var held []*item // items of another shape than the last batch
	for {
		// A batch is gathered once a run is free to take it: until then
		// inputs queue up and join it.
		slots <- struct{}{}
		var first *item
		if len(held) > 0 {
			first, held = held[0], held[1:]
		} else {
			select {
			case first = <-b.queue:
			case <-b.stop:
				b.drain(errStopped)
				return
			case <-b.ctx.Done():
				b.drain(ErrClosed)
				return
			}
		}
		batch := []*item{first}
		// Items of the same shape: first the held ones, then what is
		// queued now, then what arrives within wait.
		var rest []*item
		for _, it := range held {
			if len(batch) < b.max && it.h == first.h && it.w == first.w {
				batch = append(batch, it)
			} else {
				rest = append(rest, it)
			}
		}
		held = rest
		// A batch waits wait for other callers' inputs, and goes on
		// waiting while the last input to arrive said its caller has more
		// coming, or images for this tower are being decoded, until
		// straggle passes with no arrival: a partial batch costs more per
		// input, and while images decode the cores are busy anyway.
		lastArrival, lastMore := time.Now(), first.more
		timer := time.NewTimer(b.wait)
		take := func(it *item) {
			lastArrival, lastMore = time.Now(), it.more
			if it.h == first.h && it.w == first.w {
				batch = append(batch, it)
			} else {
				held = append(held, it)
			}
		}
	gather:
		for len(batch) < b.max {
			select {
			case it := <-b.queue:
				take(it)
			case <-timer.C:
				// What is queued already belongs to this batch: select may
				// have picked the timer over it.
			drain:
				for len(batch) < b.max {
					select {
					case it := <-b.queue:
						take(it)
					default:
						break drain
					}
				}
				if (lastMore || b.preparing.Load() > 0) && time.Since(lastArrival) < b.straggle {
					timer.Reset(b.wait) // look again: more is on its way
					continue
				}
				break gather
			case <-b.ctx.Done():
				break gather
			case <-b.stop: // an unload does not wait out a straggling caller
				break gather
			}
		}
		timer.Stop()
		// The last batch of a job, with nothing behind it, is shared out
		// between the runs, each part starting as soon as a run is free:
		// each run has only its share of the threads, and the whole batch
		// on one run would leave the others' cores idle at the end
		// (ViT-B/32 int8 on 2 cores, 96 photos: 0.68-0.70 of raw ORT
		// unsplit, 0.71-0.73 split, in three alternating rounds).
		parts := 1
		if !lastMore && len(held) == 0 && b.preparing.Load() == 0 && len(b.queue) == 0 {
			parts = min(len(batch), cap(slots))
		}
		for k := range parts {
			if k > 0 {
				slots <- struct{}{}
			}
			part := batch[k*len(batch)/parts : (k+1)*len(batch)/parts]
			running.Go(func() {
				defer func() { <-slots }()
				b.runBatch(part)
			})
		}
	}
}

// drain answers everything still queued with err.
func (b *batcher) drain(err error) {
	for {
		select {
		case it := <-b.queue:
			it.done(nil, err)
		default:
			return
		}
	}
}

// runBatch runs the live items of batch. The run is cancelled when the
// engine closes or when every item's caller has gone away; a panic in the
// run fails the batch, not the process.
func (b *batcher) runBatch(batch []*item) {
	live := batch[:0:0]
	for _, it := range batch {
		if err := it.ctx.Err(); err != nil {
			it.done(nil, err)
			continue
		}
		live = append(live, it)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	var remaining atomic.Int64
	remaining.Store(int64(len(live)))
	for _, it := range live {
		stop := context.AfterFunc(it.ctx, func() {
			if remaining.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	b.batches.Add(1)
	b.items.Add(int64(len(live)))
	vecs, err := b.safeRun(ctx, live)
	if err == nil && len(vecs) != len(live) {
		err = fmt.Errorf("%s: %d vectors for %d inputs", b.name, len(vecs), len(live))
	}
	for k, it := range live {
		switch {
		case err != nil && b.ctx.Err() != nil:
			it.done(nil, ErrClosed)
		case err != nil && it.ctx.Err() != nil:
			it.done(nil, it.ctx.Err())
		case err != nil:
			it.done(nil, fmt.Errorf("inference: %w", err))
		default:
			it.done(vecs[k], nil)
		}
	}
}

func (b *batcher) safeRun(ctx context.Context, items []*item) (vecs [][]float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: panic: %v", b.name, r)
		}
	}()
	return b.run(ctx, items)
}

// TowerStats counts what one tower's batcher has done.
type TowerStats struct {
	Tower   string // the graph file
	Batches int64  // runtime runs
	Items   int64  // inputs in them
	Queued  int    // inputs waiting now
}

func (b *batcher) stats() TowerStats {
	return TowerStats{Tower: b.name, Batches: b.batches.Load(), Items: b.items.Load(), Queued: len(b.queue)}
}

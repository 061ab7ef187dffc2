package local

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBatcherWaitsForCallerWithMore feeds inputs 20 ms apart, ten times
// the batcher's wait: a caller that says more are coming gets them into
// one batch; inputs that do not say so are run without waiting for each
// other.
func TestBatcherWaitsForCallerWithMore(t *testing.T) {
	for _, c := range []struct {
		name    string
		more    bool
		batches int64
	}{
		{"more coming", true, 1},
		{"nothing more", false, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var sizes []int
			// A straggle far beyond the 20 ms gaps, so that a busy test
			// machine cannot make the batch give up early.
			b := startBatcher(&batcher{name: "test", queue: make(chan *item, 16), max: 8, wait: 2 * time.Millisecond, straggle: 10 * time.Second,
				ctx: context.Background(), run: func(_ context.Context, items []*item) ([][]float32, error) {
					mu.Lock()
					sizes = append(sizes, len(items))
					mu.Unlock()
					return make([][]float32, len(items)), nil
				}})
			defer b.close()
			var wg sync.WaitGroup
			for k := range 4 {
				wg.Add(1)
				it := &item{ctx: context.Background(), more: c.more && k < 3, done: func([]float32, error) { wg.Done() }}
				require.NoError(t, b.submit(it))
				time.Sleep(20 * time.Millisecond)
			}
			wg.Wait()
			assert.Equal(t, c.batches, b.batches.Load(), "batch sizes %v", sizes)
		})
	}
}

// TestBatcherWaitsForInputsBeingPrepared: independent callers (no more
// flag) share a batch while one of them is still decoding, and a
// preparation that never arrives holds a batch back for at most straggle.
func TestBatcherWaitsForInputsBeingPrepared(t *testing.T) {
	newTest := func(straggle time.Duration) *batcher {
		return startBatcher(&batcher{name: "test", queue: make(chan *item, 16), max: 8, wait: 2 * time.Millisecond, straggle: straggle,
			ctx: context.Background(), run: func(_ context.Context, items []*item) ([][]float32, error) {
				return make([][]float32, len(items)), nil
			}})
	}
	var wg sync.WaitGroup
	submit := func(b *batcher) {
		wg.Add(1)
		require.NoError(t, b.submit(&item{ctx: context.Background(), done: func([]float32, error) { wg.Done() }}))
	}

	b := newTest(10 * time.Second) // far beyond the 20 ms gap, however busy the machine
	defer b.close()
	b.preparing.Add(1) // a second caller's image is decoding
	submit(b)
	time.Sleep(20 * time.Millisecond)
	submit(b)
	b.preparing.Add(-1)
	wg.Wait()
	assert.Equal(t, int64(1), b.batches.Load(), "the first input waited for the one being prepared")

	short := newTest(100 * time.Millisecond)
	defer short.close()
	short.preparing.Add(1) // and this one fails: it never comes
	start := time.Now()
	submit(short)
	wg.Wait()
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, 90*time.Millisecond, "it waited for the decoding input")
	assert.Less(t, took, 5*time.Second, "but not for ever")
	short.preparing.Add(-1)
}

// TestBatcherRuns: up to runs batches are in the runtime at once, and the
// next one starts only when one of them ends.
func TestBatcherRuns(t *testing.T) {
	for _, runs := range []int{0, 1, 2, 3} {
		t.Run(fmt.Sprint(runs), func(t *testing.T) {
			want := max(1, runs)
			started, release := make(chan struct{}, 8), make(chan struct{})
			var inRuntime, most atomic.Int64
			b := startBatcher(&batcher{name: "test", queue: make(chan *item, 16), max: 1, runs: runs, wait: time.Millisecond, straggle: time.Millisecond,
				ctx: context.Background(), run: func(_ context.Context, items []*item) ([][]float32, error) {
					n := inRuntime.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					started <- struct{}{}
					<-release
					inRuntime.Add(-1)
					return make([][]float32, len(items)), nil
				}})
			defer b.close()
			releaseAll := sync.OnceFunc(func() { close(release) })
			defer releaseAll() // before close, which waits for the runs
			var wg sync.WaitGroup
			for range want + 1 {
				wg.Add(1)
				require.NoError(t, b.submit(&item{ctx: context.Background(), done: func([]float32, error) { wg.Done() }}))
			}
			for k := range want { // that many run at once
				select {
				case <-started:
				case <-time.After(10 * time.Second):
					t.Fatalf("only %d of %d batches started at once", k, want)
				}
			}
			select {
			case <-started:
				t.Fatalf("batch %d started while %d were running", want+1, want)
			case <-time.After(50 * time.Millisecond):
			}
			release <- struct{}{} // one ends: the last may start
			<-started
			releaseAll()
			wg.Wait()
			assert.Equal(t, int64(want), most.Load())
			assert.Equal(t, int64(want+1), b.batches.Load())
		})
	}
}

// TestBatcherSplitsLastBatch: a batch with nothing behind it is shared out
// between the runs, so that a job's last batch, or a lone request, has
// every run's threads; a batch whose caller has more coming is not split.
func TestBatcherSplitsLastBatch(t *testing.T) {
	for _, c := range []struct {
		name  string
		more  int // how many of the inputs say more are coming
		n     int
		sizes []int
	}{
		{"last batch", 7, 8, []int{2, 3, 3}},
		{"more coming", 8, 9, []int{8, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var sizes []int
			gate := make(chan struct{})
			b := startBatcher(&batcher{name: "test", queue: make(chan *item, 16), max: 8, runs: 3, wait: 2 * time.Millisecond, straggle: 10 * time.Second,
				ctx: context.Background(), run: func(_ context.Context, items []*item) ([][]float32, error) {
					mu.Lock()
					sizes = append(sizes, len(items))
					mu.Unlock()
					<-gate
					return make([][]float32, len(items)), nil
				}})
			defer b.close()
			var wg sync.WaitGroup
			for k := range c.n {
				wg.Add(1)
				require.NoError(t, b.submit(&item{ctx: context.Background(), more: k < c.more, done: func([]float32, error) { wg.Done() }}))
			}
			close(gate)
			wg.Wait()
			assert.ElementsMatch(t, c.sizes, sizes)
		})
	}
}

package local

import (
	"context"
	"sync"
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
			b := newBatcher(context.Background(), "test", 8, 2*time.Millisecond, func(_ context.Context, items []*item) ([][]float32, error) {
				mu.Lock()
				sizes = append(sizes, len(items))
				mu.Unlock()
				return make([][]float32, len(items)), nil
			})
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
	b := newBatcher(context.Background(), "test", 8, 2*time.Millisecond, func(_ context.Context, items []*item) ([][]float32, error) {
		return make([][]float32, len(items)), nil
	})
	defer b.close()
	var wg sync.WaitGroup
	submit := func() {
		wg.Add(1)
		require.NoError(t, b.submit(&item{ctx: context.Background(), done: func([]float32, error) { wg.Done() }}))
	}
	b.preparing.Add(1) // a second caller's image is decoding
	submit()
	time.Sleep(20 * time.Millisecond)
	submit()
	b.preparing.Add(-1)
	wg.Wait()
	assert.Equal(t, int64(1), b.batches.Load(), "the first input waited for the one being prepared")

	b.preparing.Add(1) // and this one fails: it never comes
	start := time.Now()
	submit()
	wg.Wait()
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, straggle-10*time.Millisecond, "it waited for the decoding input")
	assert.Less(t, took, 2*time.Second, "but not for ever")
	b.preparing.Add(-1)
}

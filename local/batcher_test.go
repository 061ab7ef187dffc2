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

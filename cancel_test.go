package hybridembed_test

import (
	"context"
	"io"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
)

// slowReader serves an image in small, slow reads, as a network file
// system does. Reads made after the call that reads it has returned are
// counted; closed is set once the call returned, without a lock, as
// dataset.Run closes its files, so that -race reports a read racing it.
type slowReader struct {
	data     []byte
	off      int
	closed   bool
	returned *atomic.Bool
	late     *atomic.Int64
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.returned.Load() {
		r.late.Add(1)
	}
	if r.closed {
		return 0, os.ErrClosed
	}
	time.Sleep(200 * time.Microsecond)
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 256)], r.data[r.off:])
	r.off += n
	return n, nil
}

// TestCancelledCallStopsReading: a cancelled EmbedImagesFunc returns only
// once no decoding worker reads its images, so the caller may close them;
// in 10 cancelled calls of 24 slow readers, not one read comes after the
// call returned (the old engine returned with workers still reading).
func TestCancelledCallStopsReading(t *testing.T) {
	e := newEmbedder(t, hybridembed.WithWorkers(4))
	m, err := e.Model(context.Background(), tinyClip)
	require.NoError(t, err)
	data, err := os.ReadFile(fixtures.Fixture("images", "yellow_star.jpg"))
	require.NoError(t, err)

	var late atomic.Int64
	for round := range 10 {
		var returned atomic.Bool
		readers := make([]*slowReader, 24)
		images := make([]hybridembed.Image, len(readers))
		for i := range readers {
			readers[i] = &slowReader{data: data, returned: &returned, late: &late}
			images[i] = hybridembed.ImageReader("star.jpg", readers[i])
		}
		ctx, cancel := context.WithCancel(context.Background())
		seen := 0
		err := m.EmbedImagesFunc(ctx, images, func(i int, emb hybridembed.Embedding, err error) error {
			seen++
			if seen == 2 { // mid-run: workers are reading the next images
				cancel()
			}
			return err
		})
		returned.Store(true)
		for _, r := range readers {
			r.closed = true
		}
		cancel()
		require.ErrorIs(t, err, context.Canceled, "round %d", round)
		assert.Less(t, seen, len(images), "round %d: cancelled mid-run", round)
	}
	time.Sleep(100 * time.Millisecond) // a worker still reading would read now
	assert.Zero(t, late.Load(), "reads after EmbedImagesFunc returned")

	// The engine still embeds after the cancelled calls.
	embs, err := m.EmbedImages(context.Background(), images(2))
	require.NoError(t, err)
	assert.Len(t, embs, 2)
}

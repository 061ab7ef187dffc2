package local_test

import (
	"context"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/localtest"
	"github.com/hybridembed/hybridembed/local/turbojpeg"
)

// TestEngineJPEGHandles: an engine decodes JPEGs with a fixed set of
// libjpeg-turbo handles, one per decoding worker at most, however many
// images, callers and garbage collections there are, and Close destroys
// every handle it made. (Handles kept in a sync.Pool were dropped at each
// collection without being destroyed: C memory lost on every GC.)
func TestEngineJPEGHandles(t *testing.T) {
	if name, why := imageprep.JPEGDecoder(); name != imageprep.JPEGTurbo {
		if os.Getenv("HYBRIDEMBED_REQUIRE_TURBOJPEG") != "" {
			t.Fatalf("libjpeg-turbo: %v", why)
		}
		t.Skipf("skipping: JPEGs decode with Go's decoder here: %v", why)
	}
	const workers = 3
	e := localtest.Engine(t, local.Options{Workers: workers, BatchSize: 4})
	m, err := e.Load(fixtures.Fixture("models", "tiny-clip"), "")
	require.NoError(t, err)
	srcs := make([]local.ImageSource, 12)
	for i := range srcs {
		srcs[i] = fileSource(fixtures.Fixture("images", []string{"green_triangle.jpg", "yellow_star.jpg"}[i%2]))
	}

	made0, destroyed0 := turbojpeg.Handles()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				assert.NoError(t, m.EmbedImages(context.Background(), srcs, func(i int, _ []float32, err error) {
					assert.NoError(t, err, "image %d", i)
				}))
				runtime.GC()
				runtime.GC() // a sync.Pool empties over two collections
			}
		})
	}
	wg.Wait()
	made, destroyed := turbojpeg.Handles()
	assert.Positive(t, made-made0, "JPEGs went through libjpeg-turbo")
	assert.LessOrEqual(t, made-made0, int64(workers), "handles made for 240 JPEGs on %d workers", workers)
	assert.Equal(t, destroyed0, destroyed, "handles are kept while the engine is open")

	require.NoError(t, e.Close())
	made, destroyed = turbojpeg.Handles()
	assert.Equal(t, made-made0, destroyed-destroyed0, "Close destroys every handle the engine made")
}

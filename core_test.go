package hybridembed_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
)

var sampleImages = []string{"red_circle.png", "blue_square.png", "green_triangle.jpg", "yellow_star.jpg"}

func images(n int) []hybridembed.Image {
	out := make([]hybridembed.Image, n)
	for i := range out {
		out[i] = hybridembed.ImageFile(fixtures.Fixture("images", sampleImages[i%len(sampleImages)]))
	}
	return out
}

// TestCloseWithCallersAndCallbacks interleaves 16 callers, callbacks that
// call back into the Embedder, and Close: nothing deadlocks, and every call
// ends with its result or ErrClosed.
func TestCloseWithCallersAndCallbacks(t *testing.T) {
	for round := range 3 {
		e := newEmbedder(t, hybridembed.WithBatchSize(4, 4))
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for c := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				switch c % 3 {
				case 0:
					_, err = e.EmbedImages(ctx, tinyClip, images(6))
				case 1:
					_, err = e.EmbedTexts(ctx, tinyClip, []string{"a red circle", "a blue square"})
				default:
					err = e.EmbedImagesFunc(ctx, tinyClip, images(4), func(i int, emb hybridembed.Embedding, err error) error {
						// A callback that calls back into the Embedder.
						_, nerr := e.EmbedTexts(ctx, tinyClip, []string{"a green triangle"})
						if nerr != nil && !errors.Is(nerr, hybridembed.ErrClosed) {
							return nerr
						}
						return err
					})
				}
				errs <- err
			}()
		}
		time.Sleep(time.Duration(round*20) * time.Millisecond)
		closed := make(chan error, 1)
		go func() { closed <- e.Close() }()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("deadlock: callers did not return after Close")
		}
		require.NoError(t, <-closed)
		close(errs)
		for err := range errs {
			if err != nil {
				assert.ErrorIs(t, err, hybridembed.ErrClosed, "round %d", round)
			}
		}
		_, err := e.EmbedTexts(ctx, tinyClip, []string{"after"})
		assert.ErrorIs(t, err, hybridembed.ErrClosed)
	}
}

// TestShutdownDrains: calls admitted before Shutdown finish with results.
func TestShutdownDrains(t *testing.T) {
	e := newEmbedder(t)
	m, err := e.Model(context.Background(), tinyClip)
	require.NoError(t, err)
	got := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		err := m.EmbedImagesFunc(context.Background(), images(8), func(int, hybridembed.Embedding, error) error {
			select {
			case <-started:
			default:
				close(started)
				time.Sleep(50 * time.Millisecond) // Shutdown starts meanwhile
			}
			return nil
		})
		got <- err
	}()
	<-started
	require.NoError(t, e.Shutdown(context.Background()))
	assert.NoError(t, <-got)
	_, err = m.EmbedTexts(context.Background(), []string{"late"})
	assert.ErrorIs(t, err, hybridembed.ErrClosed)
}

// TestConcurrentCallersShareBatches: 32 goroutines with one image each get
// batched inference, with the same vectors as one call.
func TestConcurrentCallersShareBatches(t *testing.T) {
	// A generous wait: the fixture model runs in microseconds, so batches
	// would not otherwise gather behind a busy runtime as they do for a
	// real model (make bench measures that case).
	e := newEmbedder(t, hybridembed.WithMaxWait(300*time.Millisecond), hybridembed.WithBatchSize(32, 0))
	m, err := e.Model(context.Background(), tinyClip)
	require.NoError(t, err)
	want, err := m.EmbedImages(context.Background(), images(4))
	require.NoError(t, err)
	var wg sync.WaitGroup
	start := make(chan struct{})
	got := make([]hybridembed.Embedding, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			embs, err := m.EmbedImages(context.Background(), images(i%4 + 1)[i%4:])
			if assert.NoError(t, err) {
				got[i] = embs[0]
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, g := range got {
		assert.InDeltaSlice(t, want[i%4].Vector, g.Vector, 1e-5, "caller %d", i)
	}
	stats := e.Stats()
	require.Len(t, stats, 1)
	batches, inputs := stats[0].Batches-1, stats[0].Inputs-4 // less the first call's batch
	mean := float64(inputs) / float64(batches)
	t.Logf("32 concurrent one-image callers: %d batches, mean batch %.1f", batches, mean)
	assert.Greater(t, mean, 4.0)
}

// TestFailedLoadIsRetried: a model whose first load fails (its vision file
// appears later) loads on the next call; an unloaded model loads again.
func TestFailedLoadIsRetried(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(tinyClip)))
	vision := filepath.Join(dir, "onnx", "vision_model.onnx")
	data, err := os.ReadFile(vision)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(vision, []byte("not a graph"), 0o644))

	e := newEmbedder(t)
	_, err = e.EmbedImages(context.Background(), dir, images(1))
	require.Error(t, err)
	require.NoError(t, os.WriteFile(vision, data, 0o644))
	embs, err := e.EmbedImages(context.Background(), dir, images(1))
	require.NoError(t, err, "the next call loads the model")
	require.Len(t, embs, 1)

	unloaded, err := e.Unload(dir)
	require.NoError(t, err)
	assert.True(t, unloaded)
	assert.Empty(t, e.Stats())
	again, err := e.EmbedImages(context.Background(), dir, images(1))
	require.NoError(t, err, "an unloaded model loads again")
	assert.Equal(t, embs[0].Vector, again[0].Vector)
}

// TestModelHandle: a handle carries the model's identity into every vector,
// and a directory edit changes its digest.
func TestModelHandle(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(tinyClip)))
	e := newEmbedder(t)
	m, err := e.Model(context.Background(), dir)
	require.NoError(t, err)
	info := m.Info()
	assert.Len(t, info.Digest, 64)
	assert.Equal(t, "clip", info.Family)
	assert.Equal(t, []hybridembed.Modality{hybridembed.ModalityText, hybridembed.ModalityImage}, info.Modalities)
	assert.True(t, info.Cached)
	embs, err := m.EmbedImages(context.Background(), images(1))
	require.NoError(t, err)
	assert.Equal(t, info.Digest, embs[0].Digest)
	assert.Equal(t, info.Dim, embs[0].Dim)

	q, err := newEmbedder(t, hybridembed.WithVariant("quantized")).Model(context.Background(), dir)
	require.NoError(t, err)
	assert.Equal(t, "quantized", q.Info().Variant)
	assert.NotEqual(t, info.Digest, q.Info().Digest, "another variant, other files")

	time.Sleep(10 * time.Millisecond) // a new mtime
	require.NoError(t, os.WriteFile(filepath.Join(dir, "onnx", "text_model.onnx"), append(mustRead(t, filepath.Join(tinyClip, "onnx", "text_model.onnx")), 0), 0o644))
	edited, err := e.Model(context.Background(), dir)
	require.NoError(t, err)
	assert.NotEqual(t, info.Digest, edited.Info().Digest, "an edited graph changes the digest")
}

func mustRead(t *testing.T, path string) []byte {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

// TestImageErrorsAreClassified: callers tell image failures apart with the
// root package's errors alone.
func TestImageErrorsAreClassified(t *testing.T) {
	e := newEmbedder(t, hybridembed.WithMaxPixels(1<<20))
	_, err := e.EmbedImages(context.Background(), tinyClip, []hybridembed.Image{
		hybridembed.ImageReader("bomb", bytes.NewReader(fixtures.BombJPEG())),
		hybridembed.ImageReader("text", bytes.NewReader([]byte("hello, not an image"))),
		hybridembed.ImageReader("empty", bytes.NewReader(nil)),
		hybridembed.ImageReader("cut", bytes.NewReader(mustRead(t, fixtures.Fixture("images", "red_circle.png"))[:200])),
	})
	var pe *hybridembed.PartialError
	require.ErrorAs(t, err, &pe)
	require.Len(t, pe.Failed, 4)
	for i, want := range []error{hybridembed.ErrImageTooLarge, hybridembed.ErrImageUnsupported, hybridembed.ErrImageCorrupt, hybridembed.ErrImageCorrupt} {
		assert.ErrorIs(t, pe.Failed[i], want, pe.Failed[i].Error())
	}
}

// TestOptionsValidate: every option refuses a bad argument with its name.
func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opt  hybridembed.Option
	}{
		{"WithThreads", hybridembed.WithThreads(-1)},
		{"WithDevice", hybridembed.WithDevice("tpu")},
		{"WithRuntimeLibrary", hybridembed.WithRuntimeLibrary(" lib.so")},
		{"WithVariant", hybridembed.WithVariant("../x")},
		{"WithBatchSize", hybridembed.WithBatchSize(-1, 0)},
		{"WithMaxWait", hybridembed.WithMaxWait(time.Hour)},
		{"WithWorkers", hybridembed.WithWorkers(-2)},
		{"WithRuns", hybridembed.WithRuns(-1)},
		{"WithMaxPixels", hybridembed.WithMaxPixels(0)},
		{"WithHubCache", hybridembed.WithHubCache("")},
		{"WithLogger", hybridembed.WithLogger(nil)},
		{"WithPolicy", hybridembed.WithPolicy("sometimes")},
		{"WithRouterURL", hybridembed.WithRouterURL("ftp://x")},
		{"WithHubURL", hybridembed.WithHubURL("not a url")},
		{"WithToken", hybridembed.WithToken("hf_a b")},
		{"WithHTTPClient", hybridembed.WithHTTPClient(nil)},
		{"WithRetryPolicy", hybridembed.WithRetryPolicy(hybridembed.RetryPolicy{MaxAttempts: -1})},
		{"WithRoutingCache", hybridembed.WithRoutingCache(-time.Second, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hybridembed.New(tc.opt)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.name)
		})
	}
	_, err := hybridembed.New(nil)
	assert.Error(t, err)
	// Good arguments pass.
	e, err := hybridembed.New(hybridembed.WithThreads(1), hybridembed.WithDevice("cpu"), hybridembed.WithVariant("fp16"),
		hybridembed.WithBatchSize(8, 8), hybridembed.WithMaxWait(time.Millisecond), hybridembed.WithWorkers(1),
		hybridembed.WithKeepAlive(time.Minute), hybridembed.WithNormalize(false), hybridembed.WithMaxPixels(100),
		hybridembed.WithHubCache(t.TempDir()), hybridembed.WithOffline(true), hybridembed.WithPolicy(hybridembed.PolicyLocal),
		hybridembed.WithRouterURL("http://127.0.0.1:1"), hybridembed.WithHubURL("https://hub.example"), hybridembed.WithToken("hf_x"),
		hybridembed.WithRetryPolicy(hybridembed.RetryPolicy{}), hybridembed.WithRoutingCache(0, 0), hybridembed.WithWaitForModel(true),
		hybridembed.WithoutEnvironment())
	require.NoError(t, err)
	require.NoError(t, e.Close())
}

// TestWithoutEnvironment: the HF variables are ignored when asked.
func TestWithoutEnvironment(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "1")
	t.Setenv("HF_TOKEN", "hf_from_env")
	e, err := hybridembed.New(hybridembed.WithoutEnvironment(), hybridembed.WithHubCache(t.TempDir()))
	require.NoError(t, err)
	defer e.Close()
	d, err := e.Resolve(context.Background(), "acme/text-model", hybridembed.ModalityText)
	require.NoError(t, err)
	assert.False(t, d.Evidence.Offline, "HF_HUB_OFFLINE ignored")
	assert.False(t, d.Evidence.Token, "HF_TOKEN ignored")
}

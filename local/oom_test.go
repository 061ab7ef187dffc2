package local

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

// oomAbove fails like the CUDA provider out of memory for runs of more
// than max rows.
func oomAbove(max int) error {
	return fmt.Errorf("vision_model.onnx: %w (batch of %d): CUDA failure 2: out of memory ; GPU=0", ort.ErrOutOfMemory, max+1)
}

func TestOOMSplitHalvesAndRemembers(t *testing.T) {
	var o oomSplit
	var mu sync.Mutex
	var sizes []int
	run := func(_ context.Context, lo, hi int) ([][]float32, error) {
		mu.Lock()
		sizes = append(sizes, hi-lo)
		mu.Unlock()
		if hi-lo > 3 {
			return nil, oomAbove(3)
		}
		out := make([][]float32, hi-lo)
		for i := range out {
			out[i] = []float32{float32(lo + i)}
		}
		return out, nil
	}
	vecs, err := o.run(context.Background(), 16, run)
	require.NoError(t, err)
	require.Len(t, vecs, 16)
	for i, v := range vecs {
		assert.Equal(t, float32(i), v[0], "every input's vector, in order")
	}
	assert.Equal(t, 2, o.current(), "16 -> 8 -> 4 -> 2: the size that fitted")
	assert.Equal(t, []int{16, 8, 4, 2, 2, 2, 2, 2, 2, 2, 2}, sizes)

	// The next batch is cut to the size that fitted before it reaches the
	// device: no failed run.
	sizes = nil
	vecs, err = o.run(context.Background(), 7, run)
	require.NoError(t, err)
	assert.Len(t, vecs, 7)
	assert.Equal(t, []int{2, 2, 2, 1}, sizes)

	// Out of memory for one input is a clean error that says so.
	var one oomSplit
	_, err = one.run(context.Background(), 4, func(context.Context, int, int) ([][]float32, error) { return nil, oomAbove(0) })
	require.ErrorIs(t, err, ort.ErrOutOfMemory)
	assert.Contains(t, err.Error(), "even for a single input")

	// Any other error is not retried.
	var other oomSplit
	calls := 0
	boom := errors.New("invalid dimensions")
	_, err = other.run(context.Background(), 8, func(context.Context, int, int) ([][]float32, error) { calls++; return nil, boom })
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 1, calls)
	assert.Zero(t, other.current())
}

// TestOOMSplitProbesBackUp: after an out-of-memory split, the limit is
// doubled again once enough batches have fitted, so memory that frees up
// is used again, up to the batch size; a probe that runs out of memory
// falls back and waits twice as long before the next.
func TestOOMSplitProbesBackUp(t *testing.T) {
	var notes []string
	o := oomSplit{logf: func(f string, a ...any) { notes = append(notes, fmt.Sprintf(f, a...)) }}
	free := 3 // the most rows the device has memory for
	fails := 0
	run := func(_ context.Context, lo, hi int) ([][]float32, error) {
		if hi-lo > free {
			fails++
			return nil, oomAbove(free)
		}
		out := make([][]float32, hi-lo)
		for i := range out {
			out[i] = []float32{float32(lo + i)}
		}
		return out, nil
	}
	batch := func() {
		t.Helper()
		vecs, err := o.run(context.Background(), 16, run)
		require.NoError(t, err)
		require.Len(t, vecs, 16)
		for i, v := range vecs {
			require.Equal(t, float32(i), v[0], "every input's vector, in order")
		}
	}
	batch()
	require.Equal(t, 2, o.current(), "16 -> 8 -> 4 -> 2")

	// The device stays full: a probe after probeFirst batches fails once
	// and falls back; the next waits twice as long.
	for range probeFirst - 1 {
		batch()
	}
	assert.Equal(t, 2, o.current(), "not before probeFirst batches fitted")
	batch()
	assert.Equal(t, 4, o.current(), "doubled after probeFirst batches fitted")
	fails = 0
	batch()
	assert.Equal(t, 2, o.current(), "a probe out of memory falls back")
	assert.Equal(t, 1, fails, "at the cost of one failed run")
	for range 2*probeFirst - 1 {
		batch()
	}
	assert.Equal(t, 2, o.current(), "the next probe waits twice as long")

	// The memory frees up: the limit climbs back to the whole batch.
	free = 16
	fails = 0
	for range 1 + 2*probeFirst {
		batch()
	}
	assert.Equal(t, 16, o.current(), "2 -> 4 -> 8 -> 16: the whole batch again")
	assert.Zero(t, fails)
	assert.Contains(t, notes[len(notes)-1], "trying 16 at once")
	for range 2 * probeFirst {
		batch()
	}
	assert.Equal(t, 16, o.current(), "batches no longer cut do not raise it past the batch size")

	// The probe to 16 fitted, though no batch was cut to it: a later
	// out-of-memory waits probeFirst again, not a failed probe's doubled wait.
	free = 8
	batch()
	assert.Equal(t, 8, o.current())
	free = 16
	for range probeFirst {
		batch()
	}
	assert.Equal(t, 16, o.current(), "probed again after probeFirst batches")
}

// oomInjector stands between a tower and its session, failing as a GPU
// that is out of memory does for runs of more than max rows: the seam where
// the CUDA provider's error comes in.
type oomInjector struct {
	inner runner
	max   int

	mu    sync.Mutex
	fails int
	ran   []int
}

func (o *oomInjector) Path() string { return o.inner.Path() }

func (o *oomInjector) Run(ctx context.Context, in []ort.Tensor, shapes [][]int64) ([]ort.Tensor, error) {
	rows := int(in[0].Shape[0])
	o.mu.Lock()
	defer o.mu.Unlock()
	if rows > o.max {
		o.fails++
		return nil, oomAbove(o.max)
	}
	o.ran = append(o.ran, rows)
	return o.inner.Run(ctx, in, shapes)
}

type fileSrc string

func (f fileSrc) Decode(_ context.Context, d imageprep.Decoder) (*imageprep.RGB, error) {
	data, err := os.ReadFile(string(f))
	if err != nil {
		return nil, err
	}
	return d.Decode(data)
}

// TestOutOfMemoryMidRunSplitsTheBatch injects the CUDA provider's
// out-of-memory error at the tower's session for batches over 3 (on the
// CPU): every image and text still gets the vector it gets unsplit.
func TestOutOfMemoryMidRunSplitsTheBatch(t *testing.T) {
	orttest.Init(t)
	dir := fixtures.Fixture("models", "tiny-clip")
	images := []string{"red_circle.png", "blue_square.png", "green_triangle.jpg", "yellow_star.jpg"}
	var srcs []ImageSource
	for range 3 {
		for _, f := range images {
			srcs = append(srcs, fileSrc(fixtures.Fixture("images", f)))
		}
	}
	texts := []string{"a red circle", "a blue square", "x", "a green triangle on a white background", "a yellow star", "two", "three", "four", "five"}

	embed := func(inject bool) ([][]float32, [][]float32, *oomInjector, *oomInjector) {
		e := New(Options{Device: ort.DeviceCPU, BatchSize: 12, TextBatchSize: 16, Runs: 1})
		defer e.Close()
		m, err := e.Load(dir, "")
		require.NoError(t, err)
		v, err := m.visionTower()
		require.NoError(t, err)
		tt, err := m.textTower()
		require.NoError(t, err)
		vi, ti := &oomInjector{inner: v.sess, max: 3}, &oomInjector{inner: tt.sess, max: 3}
		if inject {
			v.exec, tt.exec = vi, ti
		}
		imgs := make([][]float32, len(srcs))
		require.NoError(t, m.EmbedImages(context.Background(), srcs, func(i int, vec []float32, err error) {
			require.NoError(t, err, "image %d", i)
			imgs[i] = vec
		}))
		res, err := m.EmbedTexts(context.Background(), texts)
		require.NoError(t, err)
		txts := make([][]float32, len(res))
		for i, r := range res {
			require.NoError(t, r.Err)
			txts[i] = r.Vector
		}
		return imgs, txts, vi, ti
	}
	wantImgs, wantTxts, _, _ := embed(false)
	imgs, txts, vi, ti := embed(true)
	for _, inj := range []*oomInjector{vi, ti} {
		assert.Positive(t, inj.fails, "the injected error was hit")
		for _, n := range inj.ran {
			assert.LessOrEqual(t, n, 3)
		}
	}
	for i := range wantImgs {
		assert.LessOrEqual(t, maxDiff(imgs[i], wantImgs[i]), 1e-5, "image %d", i)
	}
	for i := range wantTxts {
		assert.LessOrEqual(t, maxDiff(txts[i], wantTxts[i]), 1e-5, "text %q", texts[i])
	}
}

func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

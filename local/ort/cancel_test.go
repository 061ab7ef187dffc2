package ort_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

// runGoroutines counts the goroutines whose stack is in Session.Run: the
// caller's, and any Run started to watch its context.
func runGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "local/ort.(*Session).Run") {
			n++
		}
	}
	return n
}

// TestRunWatchesContextWithoutAGoroutine: a batch in flight costs no
// goroutine besides its caller's (the context is watched with
// context.AfterFunc), many runs leave none behind, and cancelling the
// context mid-batch ends the run with the context's error.
func TestRunWatchesContextWithoutAGoroutine(t *testing.T) {
	orttest.Init(t)
	model := "../../testdata/models/tiny-clip/onnx/vision_model.onnx"
	s, err := ort.NewSession(model, []string{"pixel_values"}, []string{"image_embeds"}, ort.SessionOptions{Device: ort.DeviceCPU, Threads: 1})
	require.NoError(t, err)
	defer s.Close()
	small := []ort.Tensor{{Shape: []int64{1, 3, 224, 224}, Float32: make([]float32, 3*224*224)}}
	big := []ort.Tensor{{Shape: []int64{256, 3, 224, 224}, Float32: make([]float32, 256*3*224*224)}}

	before := runtime.NumGoroutine()
	for range 200 {
		ctx, cancel := context.WithCancel(context.Background())
		_, err := s.Run(ctx, small, nil)
		cancel()
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "runs leave no goroutine behind")

	// A batch in flight: its caller is the only goroutine in Run.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(ctx, big, nil)
		done <- err
	}()
	seen := 0
	for deadline := time.Now().Add(5 * time.Second); seen == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		seen = runGoroutines()
	}
	require.NotZero(t, seen, "the batch did not start")
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, 1, runGoroutines(), "a batch in flight costs no watcher goroutine")

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
		t.Logf("the cancelled batch ended %v after cancel", time.Since(start))
	case <-time.After(30 * time.Second):
		t.Fatal("cancel did not end the run")
	}
	// testify's Eventually would run the check on goroutines of its own.
	left := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); left > before && time.Now().Before(deadline); left = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, left, before, "the cancelled run leaves no goroutine behind")
}

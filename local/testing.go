package local

import (
	"testing"

	"github.com/hybridembed/hybridembed/local/ort"
)

// TestEngine returns a CPU engine for tests, closed when the test ends. It
// skips the test when ONNX Runtime is not installed (fails instead when
// $HYBRIDEMBED_REQUIRE_ORT is set, as make test does).
func TestEngine(tb testing.TB, opts Options) *Engine {
	tb.Helper()
	ort.TestInit(tb)
	if opts.Device == "" {
		opts.Device = ort.DeviceCPU
	}
	e := New(opts)
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("closing engine: %v", err)
		}
	})
	return e
}

// Package localtest builds local engines for tests.
package localtest

import (
	"testing"

	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

// Engine returns a CPU engine for tests, closed when the test ends. It
// skips the test when ONNX Runtime is not installed (fails instead when
// $HYBRIDEMBED_REQUIRE_ORT is set, as make test does).
func Engine(tb testing.TB, opts local.Options) *local.Engine {
	tb.Helper()
	orttest.Init(tb)
	if opts.Device == "" {
		opts.Device = ort.DeviceCPU
	}
	e := local.New(opts)
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("closing engine: %v", err)
		}
	})
	return e
}

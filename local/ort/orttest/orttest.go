// Package orttest loads ONNX Runtime for tests, skipping (or, under make
// test, failing) when it is not installed.
package orttest

import (
	"os"
	"testing"

	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/models/layout"
)

// EnvRequire makes tests fail, rather than skip, when the runtime is missing
// (make test sets it, since it installs the runtime first).
const EnvRequire = "HYBRIDEMBED_REQUIRE_ORT"

// Init loads the runtime for a test from the usual places, skipping the
// test with the reason when it is not installed (failing instead when
// $HYBRIDEMBED_REQUIRE_ORT is set).
func Init(tb testing.TB) {
	tb.Helper()
	if _, err := ort.Init(ort.Config{CacheDir: layout.HomeDir(), Prefer: ort.DeviceCPU}); err != nil {
		if os.Getenv(EnvRequire) != "" {
			tb.Fatalf("%v", err)
		}
		tb.Skipf("skipping: %v", err)
	}
}

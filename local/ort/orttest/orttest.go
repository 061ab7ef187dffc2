// Package orttest loads ONNX Runtime for tests, skipping (or, under make
// test, failing) when it is not installed, and tells CUDA tests whether
// CUDA works here.
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

// EnvStrict is internal/fixtures.EnvStrict (HYBRIDEMBED_TEST_STRICT=1,
// which CI sets): every missing prerequisite fails the test, the runtime
// too. Named here so that the runtime's tests do not link the emulated
// router that fixtures brings.
const EnvStrict = "HYBRIDEMBED_TEST_STRICT"

// EnvRequireCUDA makes CUDA tests fail, rather than skip, when CUDA cannot
// be used (scripts/gpu-check.sh sets it on a GPU machine). It also makes
// every test load the CUDA build, which runs CPU sessions too, since one
// process loads one ONNX Runtime.
const EnvRequireCUDA = "HYBRIDEMBED_REQUIRE_CUDA"

// Init loads the runtime for a test from the usual places, skipping the
// test with the reason when it is not installed (failing instead when
// $HYBRIDEMBED_REQUIRE_ORT is set, or $HYBRIDEMBED_TEST_STRICT is 1).
func Init(tb testing.TB) {
	tb.Helper()
	prefer := ort.DeviceCPU
	if os.Getenv(EnvRequireCUDA) != "" {
		prefer = ort.DeviceCUDA
	}
	if _, err := ort.Init(ort.Config{CacheDir: layout.HomeDir(), Prefer: prefer}); err != nil {
		if os.Getenv(EnvRequire) != "" || os.Getenv(EnvRequireCUDA) != "" || os.Getenv(EnvStrict) == "1" {
			tb.Fatalf("%v", err)
		}
		tb.Skipf("skipping: %v", err)
	}
}

// InitCUDA loads the runtime and readies CUDA, skipping the test with the
// reason CUDA cannot be used here (failing instead when
// $HYBRIDEMBED_REQUIRE_CUDA is set).
func InitCUDA(tb testing.TB) {
	tb.Helper()
	Init(tb)
	if st := ort.PrepareCUDA(); st.Err != nil {
		if os.Getenv(EnvRequireCUDA) != "" {
			tb.Fatalf("CUDA required ($%s): %v", EnvRequireCUDA, st.Err)
		}
		tb.Skipf("skipping: %v", st.Err)
	}
}

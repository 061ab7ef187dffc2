package orttest_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

// TestInitStrict: under HYBRIDEMBED_TEST_STRICT=1 (CI), a runtime that
// does not load fails the test instead of skipping it, even where
// HYBRIDEMBED_REQUIRE_ORT is not set (a plain `go test` in CI); without
// it, the test is skipped. (Every engine, server and CLI test skipped, and
// CI passed, when the runtime was missing.)
func TestInitStrict(t *testing.T) {
	if os.Getenv("ORTTEST_CHILD") != "" {
		orttest.Init(t)
		return
	}
	for _, c := range []struct {
		strict string
		fails  bool
	}{{"1", true}, {"", false}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestInitStrict$", "-test.v")
		cmd.Env = append(os.Environ(), "ORTTEST_CHILD=1", "ONNXRUNTIME_LIB=/nonexistent/libonnxruntime.so",
			orttest.EnvRequire+"=", orttest.EnvRequireCUDA+"=", orttest.EnvStrict+"="+c.strict)
		out, err := cmd.CombinedOutput()
		if c.fails {
			require.Error(t, err, "%s=1 must fail the test:\n%s", orttest.EnvStrict, out)
			assert.Contains(t, string(out), "--- FAIL")
		} else {
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "--- SKIP")
		}
	}
}

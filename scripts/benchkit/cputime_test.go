package benchkit

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestCPUTime: the process's CPU time grows while it computes.
func TestCPUTime(t *testing.T) {
	if runtime.GOOS != "windows" && runtime.GOOS != "linux" && runtime.GOOS != "darwin" && runtime.GOOS != "freebsd" {
		t.Skipf("no CPU time on %s", runtime.GOOS)
	}
	before := CPUTime()
	assert.Positive(t, before)
	x := 0
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		x++
	}
	assert.Greater(t, CPUTime(), before, "after spinning %d times", x)
}

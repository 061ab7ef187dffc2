//go:build !unix && !windows

package benchkit

import "time"

// CPUTime is 0: this system has no per-process CPU time to read.
func CPUTime() time.Duration { return 0 }

//go:build unix

package benchkit

import (
	"time"

	"golang.org/x/sys/unix"
)

// CPUTime is the CPU time the process has used (user and system): what a
// step costs where other work shares the cores. 0 where it cannot be read.
func CPUTime() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

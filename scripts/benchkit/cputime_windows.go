package benchkit

import (
	"time"

	"golang.org/x/sys/windows"
)

// CPUTime is the CPU time the process has used (user and kernel): what a
// step costs where other work shares the cores. 0 where it cannot be read.
func CPUTime() time.Duration {
	var creation, exit, kernel, user windows.Filetime
	if windows.GetProcessTimes(windows.CurrentProcess(), &creation, &exit, &kernel, &user) != nil {
		return 0
	}
	// The times are counts of 100 ns, not instants (Filetime.Nanoseconds
	// would take the 1601 epoch off them).
	ticks := func(f windows.Filetime) int64 { return int64(f.HighDateTime)<<32 | int64(f.LowDateTime) }
	return time.Duration((ticks(kernel) + ticks(user)) * 100)
}

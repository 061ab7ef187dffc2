//go:build unix && !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly

package filever

import "syscall"

// ctimeNanos: the inode alone here (AIX, Solaris name the field otherwise).
func ctimeNanos(*syscall.Stat_t) int64 { return 0 }

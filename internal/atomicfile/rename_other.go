//go:build !linux && !windows

package atomicfile

import "golang.org/x/sys/unix"

// renameat2NoReplace is Linux's; elsewhere the caller links instead.
func renameat2NoReplace(old, new string) error { return unix.ENOSYS }

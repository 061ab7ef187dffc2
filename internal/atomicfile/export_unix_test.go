//go:build !windows

package atomicfile

import "golang.org/x/sys/unix"

// WithoutNoReplace makes renameNoReplace meet a file system with neither
// renameat2(RENAME_NOREPLACE) nor hard links (as vfat answers: EINVAL,
// then EPERM) until restore is called.
func WithoutNoReplace() (restore func()) {
	r, l := renameat2, link
	renameat2 = func(string, string) error { return unix.EINVAL }
	link = func(string, string) error { return unix.EPERM }
	return func() { renameat2, link = r, l }
}

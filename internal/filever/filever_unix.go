//go:build unix

package filever

import (
	"io/fs"
	"syscall"
)

func sysVersion(fi fs.FileInfo) (inode uint64, ctime int64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return uint64(st.Ino), ctimeNanos(st)
}

// Package filever tells one version of a file from another by what stat
// says of it, for memos that must not outlive a rewrite of the file.
package filever

import "io/fs"

// Version is what identifies a file's content without reading it: its
// size and modification time, and where the system has them its inode and
// change time. Size and mtime alone miss a file rewritten at the same size
// within a coarse clock tick (FAT's 2 s, some NFS servers' 1 s), or one
// copied over with its time kept (cp -p, rsync -t): a new inode or a new
// ctime tells those apart. Versions are comparable with ==.
type Version struct {
	Size       int64
	ModTime    int64 // Unix nanoseconds
	Inode      uint64
	ChangeTime int64 // Unix nanoseconds; 0 where unknown
}

// Of is fi's version.
func Of(fi fs.FileInfo) Version {
	v := Version{Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}
	v.Inode, v.ChangeTime = sysVersion(fi)
	return v
}

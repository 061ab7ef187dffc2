package models

import (
	"fmt"
	"io/fs"
	"path/filepath"
)

// FileStatus is one snapshot file's verification.
type FileStatus struct {
	Path   string // in the snapshot
	Blob   string // the blob it links to ("" for a plain file)
	Status string // "ok", "corrupt", "missing", "unverifiable"
	Err    error
}

// Verify re-hashes every file of id's snapshot at revision against its blob
// name (sha256 for LFS files, git sha1 for others). Snapshot entries that
// are plain files (copied caches) cannot be checked and say so.
func (c Cache) Verify(id, revision string) (Location, []FileStatus, error) {
	loc, err := c.Locate(id, revision)
	if err != nil {
		return loc, nil, err
	}
	repoDir := filepath.Dir(filepath.Dir(loc.Dir))
	blobs := filepath.Join(repoDir, "blobs")
	var out []FileStatus
	err = filepath.WalkDir(loc.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(loc.Dir, p)
		st := FileStatus{Path: filepath.ToSlash(rel)}
		if d.Type()&fs.ModeSymlink == 0 {
			st.Status = "unverifiable"
			out = append(out, st)
			return nil
		}
		target, err := filepath.EvalSymlinks(p)
		switch {
		case err != nil:
			st.Status, st.Err = "missing", fmt.Errorf("%s: dangling link: %w", st.Path, err)
		case filepath.Dir(target) != blobs && filepath.Dir(target) != evalDir(blobs):
			st.Status, st.Err = "corrupt", fmt.Errorf("%s: links outside the repo's blobs (%s)", st.Path, target)
		default:
			st.Blob = filepath.Base(target)
			etag, nerr := normalizeETag(st.Blob)
			if nerr != nil {
				st.Status, st.Err = "unverifiable", nerr
			} else if verr := verifyFile(target, etag); verr != nil {
				st.Status, st.Err = "corrupt", fmt.Errorf("%s: %w", st.Path, verr)
			} else {
				st.Status = "ok"
			}
		}
		out = append(out, st)
		return nil
	})
	return loc, out, err
}

func evalDir(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

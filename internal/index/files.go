package index

import (
	"context"
	"encoding/hex"
)

// File is a stored file row: a path relative to the index root (forward
// slashes), what it was when last read, and the sha256 of its contents.
type File struct {
	Path  string
	Size  int64
	Mtime int64  // nanoseconds since 1970
	Hash  string // hex
}

// Files reads the stored rows of the files under paths, keyed by stored
// path, so that a viewer of a [Matrix] can show each row's file.
func (ix *Index) Files(ctx context.Context, paths []string) (map[string]File, error) {
	sc, err := ix.scope(paths)
	if err != nil {
		return nil, err
	}
	rows, err := ix.storedFiles(ctx, sc)
	if err != nil {
		return nil, err
	}
	out := make(map[string]File, len(rows))
	for rel, r := range rows {
		out[rel] = File{Path: rel, Size: r.size, Mtime: r.mtime, Hash: hex.EncodeToString(r.hash)}
	}
	return out, nil
}

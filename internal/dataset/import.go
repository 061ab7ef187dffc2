package dataset

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/hybridembed/hybridembed/internal/index"
)

// ForIndex reads every committed row of the dataset in dir as rows for
// [index.Index.Import], with paths mapped by rebase (the cluster's paths
// to this machine's).
func ForIndex(dir string, rebase func(string) string) ([]index.Imported, error) {
	files, err := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []index.Imported
	for _, f := range files {
		rows, err := ReadRows(f)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			h, err := hex.DecodeString(r.SHA256)
			if err != nil || len(h) != 32 {
				return nil, fmt.Errorf("%s: %s has no valid sha256", f, r.Path)
			}
			row := index.Imported{Path: rebase(r.Path), Size: r.Size, Mtime: r.Mtime, Hash: h, Vector: r.Embedding}
			if r.Error != nil {
				row.Err = *r.Error
			}
			out = append(out, row)
		}
	}
	return out, nil
}

package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Report is what Verify found. A dataset is clean when Problems is empty.
type Report struct {
	Shards   int // N of the run
	Complete int // shards whose manifest says complete
	Rows     int // in all committed chunks
	Failed   int // rows with an error
	Dim      int
	Model    Model
	Problems []string
}

// Verify checks a dataset folder: every shard present and complete, its
// chunks matching its manifest, one model, vectors of one size, and no
// input twice. It says what is missing and what to rerun.
func Verify(dir string) (*Report, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	problem := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }
	manifests := map[int]*Manifest{}
	chunks := map[int][]string{}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "_manifest-") && strings.HasSuffix(name, ".json"):
			m, err := readManifest(filepath.Join(dir, name))
			if err != nil {
				problem("%s: unreadable: %v", name, err)
				continue
			}
			if rep.Shards == 0 {
				rep.Shards, rep.Model = m.Shards, m.Model
			}
			if m.Shards != rep.Shards {
				problem("%s: a %d-way run mixed with a %d-way run", name, m.Shards, rep.Shards)
				continue
			}
			if !m.Model.same(rep.Model) {
				problem("%s: made with %s (revision %q, variant %q), other shards with %s", name, m.Model.Name, m.Model.Revision, m.Model.Variant, rep.Model.Name)
			}
			manifests[m.Shard] = m
		case strings.HasSuffix(name, ".parquet"):
			s, _, ok := parseChunk(name)
			if !ok {
				problem("%s: not a chunk of this dataset", name)
				continue
			}
			chunks[s.K] = append(chunks[s.K], name)
		case strings.HasSuffix(name, ".tmp"):
			problem("%s: a file cut short by a crash (its shard has not been rerun)", name)
		}
	}
	if len(manifests) == 0 {
		if len(chunks) == 0 {
			return nil, errors.New(dir + ": not a dataset: no manifests and no part files")
		}
		problem("no manifests: chunks were written but no shard recorded them")
	}
	rep.Dim = rep.Model.Dim
	seen := map[string]string{}
	for k := range max(rep.Shards, 1) {
		m := manifests[k]
		files := chunks[k]
		sort.Strings(files)
		rows := 0
		for _, name := range files {
			data, err := ReadRows(filepath.Join(dir, name))
			if err != nil {
				problem("%v", err)
				continue
			}
			for _, r := range data {
				if other, dup := seen[r.Path]; dup {
					problem("%s: in %s and in %s", r.Path, other, name)
				}
				seen[r.Path] = name
				if r.Error != nil {
					rep.Failed++
				} else if len(r.Embedding) != rep.Dim || int(r.Dim) != rep.Dim {
					problem("%s: %s has %d numbers (dim %d), the dataset's model %d", name, r.Path, len(r.Embedding), r.Dim, rep.Dim)
				}
			}
			rows += len(data)
		}
		rep.Rows += rows
		switch {
		case m == nil && len(files) == 0:
			problem("shard %d/%d: missing (never run?)", k, rep.Shards)
		case m == nil:
			problem("shard %d/%d: %d rows in chunks but no manifest: it was cut short; rerun it", k, rep.Shards, rows)
		case !m.Complete:
			problem("shard %d/%d: not complete: %d of %d inputs committed; rerun it", k, rep.Shards, rows, m.Inputs)
		case rows != m.Rows || len(files) != len(m.Chunks):
			problem("shard %d/%d: the manifest records %d rows in %d chunks, the folder has %d in %d; rerun it", k, rep.Shards, m.Rows, len(m.Chunks), rows, len(files))
		default:
			rep.Complete++
		}
	}
	return rep, nil
}

package dataset

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Report is what Verify found. A dataset is clean when Problems is empty.
type Report struct {
	Format   string // "parquet" or "npy"
	Labels   string // an NPY output's labels file: paths.txt or texts.jsonl
	Shards   int    // N of the run
	Complete int    // shards whose manifest says complete, with every input committed
	Rows     int    // in all committed chunks
	Failed   int    // rows with an error
	Dim      int
	Model    Model
	Problems []string
	Notes    []string // what verify could not check, and why
}

// maxNamed is how many inputs a problem names before it counts the rest.
const maxNamed = 5

// Verify checks a dataset folder: every shard present and complete, its
// chunks matching its manifest, every input it was given in a chunk, no
// input (by key) twice, one model, vectors of one size. It says what is
// missing and what to rerun. A folder that holds an NPY output instead (and
// no chunks) is checked as one: embeddings.npy and its labels file one
// write's pair, of one row count.
func Verify(dir string) (*Report, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	rep := &Report{Format: "parquet"}
	problem := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }
	manifests := map[int]*Manifest{}
	chunks := map[int][]string{}
	ways := map[string]Shard{} // each chunk's shard, as its name says it
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
			if d := m.Model.Differences(rep.Model); d != "" {
				problem("%s: made with %s, which differs from the other shards' model: %s", name, m.Model.Name, d)
			}
			manifests[m.Shard] = m
		case strings.HasSuffix(name, ".parquet"):
			s, _, ok := parseChunk(name)
			if !ok {
				problem("%s: not a chunk of this dataset", name)
				continue
			}
			ways[name] = s
		case strings.HasPrefix(name, ".part-") || strings.HasPrefix(name, "._manifest-") || strings.HasPrefix(name, "._inputs-"):
			problem("%s: a file being written, or cut short by a crash (its shard has not been rerun since)", name)
		}
	}
	// A chunk named for another shard count (left from a run with other
	// --shards in this folder) is not this run's: reported, never counted
	// as a shard's rows.
	others := 0
	for _, name := range slices.Sorted(maps.Keys(ways)) {
		s := ways[name]
		switch {
		case rep.Shards != 0 && s.N != rep.Shards:
			others++
			if others <= maxNamed {
				problem("%s: a chunk of a %d-way run, in a %d-way dataset (left from a run with --shards %d?): not counted; move it away, or rerun with --shards %d in an empty folder", name, s.N, rep.Shards, s.N, s.N)
			}
		case s.K >= s.N:
			problem("%s: not a chunk of this dataset (shard %d of %d)", name, s.K, s.N)
		default:
			chunks[s.K] = append(chunks[s.K], name)
		}
	}
	if others > maxNamed {
		problem("%d more chunks of another shard count", others-maxNamed)
	}
	if len(manifests) == 0 {
		if len(chunks) == 0 && len(rep.Problems) == 0 && isNPY(dir) {
			return verifyNPY(dir)
		}
		if len(chunks) == 0 {
			return nil, errors.New(dir + ": not a dataset: no manifests, no part files and no embeddings.npy")
		}
		problem("no manifests: chunks were written but no shard recorded them")
	}
	rep.Dim = rep.Model.Dim
	seen := map[string]string{} // key -> chunk
	legacy := 0
	for k := range max(rep.Shards, 1) {
		m := manifests[k]
		files := chunks[k]
		sort.Strings(files)
		rows := 0
		have := map[string]bool{}
		for _, name := range files {
			data, err := ReadRows(filepath.Join(dir, name))
			if err != nil {
				problem("%v", err)
				continue
			}
			for _, r := range data {
				key := r.Key
				if key == "" {
					legacy++
					key = r.Path
				}
				if other, dup := seen[key]; dup {
					problem("%s: in %s and in %s", key, other, name)
				}
				seen[key], have[key] = name, true
				if r.Error != nil {
					rep.Failed++
				} else if len(r.Embedding) != rep.Dim || int(r.Dim) != rep.Dim {
					problem("%s: %s has %d numbers (dim %d), the dataset's model %d", name, key, len(r.Embedding), r.Dim, rep.Dim)
				}
			}
			rows += len(data)
		}
		rep.Rows += rows
		s := Shard{k, max(rep.Shards, 1)}
		switch {
		case m == nil && len(files) == 0:
			problem("shard %s: missing (never run?)", s)
		case m == nil:
			problem("shard %s: %d rows in chunks but no manifest: it was cut short; rerun it", s, rows)
		case !m.Complete:
			problem("shard %s: not complete: %d of %d inputs committed; rerun it", s, rows, m.Inputs)
		default:
			missing, err := missingInputs(dir, m, have)
			switch {
			case err != nil:
				problem("shard %s: %v", s, err)
			case len(missing) > 0:
				problem("shard %s: %d of its %d inputs are in no chunk (%s); rerun it", s, len(missing), m.Inputs, named(missing))
			case rows != m.Rows || len(files) != len(m.Chunks):
				problem("shard %s: the manifest records %d rows in %d chunks, the folder has %d in %d; rerun it", s, m.Rows, len(m.Chunks), rows, len(files))
			default:
				rep.Complete++
			}
		}
	}
	if legacy > 0 || rep.Model.Key == "" {
		rep.Notes = append(rep.Notes, "written by an older hybridembed: its rows have no key, so inputs are told apart by path (the same file under two mounts is not seen twice), and the model identity covered its graph files only")
	}
	return rep, nil
}

// missingInputs are the keys of the shard's inputs that no chunk holds.
func missingInputs(dir string, m *Manifest, have map[string]bool) ([]string, error) {
	if m.InputsFile == "" {
		return nil, nil // an older manifest: the counts are all there is
	}
	keys, err := readInputs(filepath.Join(dir, m.InputsFile), m.InputsSHA256)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, k := range keys {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	return missing, nil
}

// named lists the first few keys and counts the rest.
func named(keys []string) string {
	if len(keys) <= maxNamed {
		return strings.Join(keys, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(keys[:maxNamed], ", "), len(keys)-maxNamed)
}

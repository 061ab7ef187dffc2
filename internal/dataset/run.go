package dataset

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gofrs/flock"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/filehash"
)

// ImageEmbedder computes image vectors; *hybridembed.Model is one.
type ImageEmbedder interface {
	EmbedImagesFunc(ctx context.Context, images []hybridembed.Image, fn func(i int, emb hybridembed.Embedding, err error) error) error
}

// Options say where a shard's run writes and how it reports.
type Options struct {
	Dir   string
	Shard Shard
	Model Model
	// ChunkRows is how many rows go into one committed file (default
	// 4096): a crash loses at most that much work.
	ChunkRows int
	// Tool names the writer in manifests ("hybridembed vX").
	Tool string
	// Done is called after each input; Failed for each input that fails.
	Done   func()
	Failed func(path string, err error)
}

// Result is what a run did.
type Result struct {
	Inputs    int // assigned to the shard
	Committed int // already in the dataset from earlier runs, skipped
	Embedded  int // rows written by this run
	Failed    int // of those, inputs that failed
	Complete  bool
}

// Run embeds the shard's inputs into Parquet chunks in opts.Dir, resuming
// an interrupted run: inputs whose key is in a committed chunk are skipped,
// so every input is in the dataset once however often the shard is killed
// and rerun, and wherever the inputs are mounted, as long as their keys
// (paths relative to the folder given) stay the same. A commit never
// replaces a chunk: one lost or removed is embedded again into a new one.
// A folder made with another model or settings is refused, saying what
// differs. Only one process may run a shard at a time (a lock file; where
// the file system's locks do not reach other nodes, a second writer cannot
// replace chunks either, and verify reports the inputs it duplicated).
//
// A shard with nothing committed writes nothing until an input embeds: a
// run in which every input fails returns [ErrNothingEmbedded], and one cut
// short before then returns its cause; either leaves the folder as it was
// (one it created is removed again).
func Run(ctx context.Context, emb ImageEmbedder, inputs []Input, opts Options) (res Result, err error) {
	if err := opts.Shard.valid(); err != nil {
		return res, err
	}
	if opts.Model.Key == "" {
		return res, fmt.Errorf("model %s has no identity: its files are not on this machine", opts.Model.Name)
	}
	inputs, err = distinct(inputs)
	if err != nil {
		return res, err
	}
	every := opts.ChunkRows
	if every <= 0 {
		every = 4096
	}
	dir := opts.Dir
	made, err := mkdirAll(dir)
	if err != nil {
		return res, err
	}
	lockPath := filepath.Join(dir, fmt.Sprintf(".lock-%05d-of-%05d", opts.Shard.K, opts.Shard.N))
	made.file(lockPath)
	lock := flock.New(lockPath)
	if ok, err := lock.TryLock(); err != nil {
		return res, fmt.Errorf("%s: %w", dir, err)
	} else if !ok {
		return res, fmt.Errorf("%s: shard %s is being written by another process", dir, opts.Shard)
	}
	defer lock.Unlock()
	wrote := false
	defer func() {
		if !wrote {
			made.undo() // before the unlock: the lock file goes while held
		}
	}()

	man, done, next, err := resume(dir, opts.Shard, opts.Model)
	if err != nil {
		return res, err
	}
	man.Tool = opts.Tool
	res.Inputs = len(inputs)
	keys := make([]string, len(inputs))
	var todo []Input
	for i, in := range inputs {
		keys[i] = in.Key
		if done[in.Key] {
			res.Committed++
		} else {
			todo = append(todo, in)
		}
	}
	man.Inputs = len(inputs)
	man.Complete = false

	// The inputs and the manifest are written before the first chunk, so
	// a chunk always has a manifest saying which model made it.
	started := false
	begin := func() error {
		if started {
			return nil
		}
		started, wrote = true, true
		sum, err := writeInputs(dir, opts.Shard, keys)
		if err != nil {
			return err
		}
		man.InputsFile, man.InputsSHA256 = inputsName(opts.Shard), sum
		return writeManifest(dir, man)
	}
	var pending []Row
	// Failures are held back until something embeds: a run that embeds
	// nothing must not turn a typo into a dataset of errors.
	keep := res.Committed > 0
	commit := func() error {
		if len(pending) == 0 || !keep {
			return nil
		}
		if err := begin(); err != nil {
			return err
		}
		name, err := commitChunk(dir, opts.Shard, &next, pending)
		if err != nil {
			return err
		}
		c := Chunk{File: name, Rows: len(pending)}
		for _, r := range pending {
			if r.Error != nil {
				c.Failed++
			}
		}
		man.Chunks = append(man.Chunks, c)
		man.Rows += c.Rows
		man.Failed += c.Failed
		pending = pending[:0]
		return writeManifest(dir, man)
	}

	// Each file is hashed as the decoder reads it, so that the dataset
	// records the sha256 of exactly the bytes embedded, without a second
	// read.
	files := make([]*filehash.Reader, len(todo))
	images := make([]hybridembed.Image, len(todo))
	for i, in := range todo {
		files[i] = filehash.NewReader(in.Path)
		images[i] = hybridembed.ImageReader(in.Path, files[i])
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	m := opts.Model
	err = emb.EmbedImagesFunc(ctx, images, func(i int, e hybridembed.Embedding, eerr error) error {
		read, ferr := files[i].Finish()
		if ferr != nil {
			ferr = fmt.Errorf("reading %s: %w", todo[i].Path, ferr)
		}
		row := Row{Path: todo[i].Path, Key: todo[i].Key, Model: m.Name, Revision: m.Revision, Variant: m.Variant, Dim: int32(m.Dim),
			Size: read.Size, Mtime: read.Mtime}
		if read.Sum != nil {
			row.SHA256 = hex.EncodeToString(read.Sum)
		}
		switch {
		case eerr != nil:
			msg := eerr.Error()
			row.Error = &msg
		case ferr != nil:
			msg := ferr.Error()
			row.Error, eerr = &msg, ferr
		case len(e.Vector) != m.Dim:
			msg := fmt.Sprintf("the model gave %d numbers, not %d", len(e.Vector), m.Dim)
			row.Error, eerr = &msg, errors.New(msg)
		default:
			row.Embedding, row.Provider = e.Vector, e.Provider
			keep = true
		}
		if eerr != nil {
			res.Failed++
			if opts.Failed != nil {
				opts.Failed(todo[i].Path, eerr)
			}
		}
		res.Embedded++
		pending = append(pending, row)
		if opts.Done != nil {
			opts.Done()
		}
		if len(pending) >= every {
			return commit()
		}
		return nil
	})
	// What was embedded is committed even when the run was cut short.
	if cerr := commit(); cerr != nil {
		return res, errors.Join(err, cerr)
	}
	if err != nil {
		return res, err
	}
	if !keep && len(todo) > 0 {
		return res, fmt.Errorf("%s: %w: all %d inputs failed", dir, ErrNothingEmbedded, len(todo))
	}
	if err := begin(); err != nil {
		return res, err
	}
	man.Complete = true
	res.Complete = true
	return res, writeManifest(dir, man)
}

// distinct drops repeats of an input (a file given twice) and refuses two
// files with one key, which no resume could tell apart.
func distinct(inputs []Input) ([]Input, error) {
	byKey := make(map[string]string, len(inputs))
	out := inputs[:0:0]
	for _, in := range inputs {
		if p, ok := byKey[in.Key]; ok {
			if p == in.Path {
				continue
			}
			return nil, fmt.Errorf("%s and %s have the same key %q (the path relative to the folder given): give the folder above both, or embed them into two datasets", p, in.Path, in.Key)
		}
		byKey[in.Key] = in.Path
		out = append(out, in)
	}
	return out, nil
}

// resume reads what the shard has committed: the chunk files on disk are
// the truth (a crash may land between a chunk's rename and the manifest's),
// so the manifest is rebuilt from them; next is the number after the
// highest chunk on disk or in the manifest, so that a new chunk never takes
// a committed one's name. Files cut short by a crash go.
func resume(dir string, s Shard, model Model) (man *Manifest, done map[string]bool, next int, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, 0, err
	}
	man = &Manifest{Version: manifestVersion, Shard: s.K, Shards: s.N, Model: model}
	old, err := readManifest(filepath.Join(dir, manifestName(s)))
	switch {
	case err == nil && (old.Version < manifestVersion || old.Model.Key == ""):
		return nil, nil, 0, fmt.Errorf("%s: shard %s was %w: it cannot be resumed exactly once; write to another folder (DuckDB, pyarrow and 'dataset verify' still read this one)", dir, s, ErrOldDataset)
	case err == nil && old.Model.Key != model.Key:
		return nil, nil, 0, fmt.Errorf("%s: %w: shard %s was made with %s, and this run's model differs: %s; write to another folder, or run with the model and settings it was made with",
			dir, ErrOtherRun, s, old.Model.Name, model.Differences(old.Model))
	case err == nil:
		for _, c := range old.Chunks {
			if _, n, ok := parseChunk(c.File); ok {
				next = max(next, n+1)
			}
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, nil, 0, err
	}
	done = map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if isTemp(name, s) {
			os.Remove(filepath.Join(dir, name)) // a chunk or manifest cut short: the lock says no one writes it
			continue
		}
		if strings.HasPrefix(name, "_manifest-") {
			var k, n int
			if _, err := fmt.Sscanf(name, "_manifest-%05d-of-%05d.json", &k, &n); err == nil && n != s.N {
				return nil, nil, 0, fmt.Errorf("%s: %w: it has shards of a %d-way run; this is a %d-way run", dir, ErrOtherRun, n, s.N)
			}
			continue
		}
		cs, n, ok := parseChunk(name)
		if ok && cs.N != s.N {
			return nil, nil, 0, fmt.Errorf("%s: %w: %s is a chunk of a %d-way run; this is a %d-way run", dir, ErrOtherRun, name, cs.N, s.N)
		}
		if !ok || cs != s {
			continue
		}
		if old == nil {
			return nil, nil, 0, fmt.Errorf("%s: %w: %s has no manifest (%s) saying which model made it; restore it, or write to another folder", dir, ErrOtherRun, name, manifestName(s))
		}
		next = max(next, n+1)
		rows, err := readCommitted(filepath.Join(dir, name))
		if err != nil {
			return nil, nil, 0, err
		}
		c := Chunk{File: name, Rows: len(rows)}
		for _, r := range rows {
			if r.Key == "" {
				return nil, nil, 0, fmt.Errorf("%s: %s was %w: it cannot be resumed exactly once; write to another folder", dir, name, ErrOldDataset)
			}
			done[r.Key] = true
			if r.Error != nil {
				c.Failed++
			}
		}
		man.Chunks = append(man.Chunks, c)
		man.Rows += c.Rows
		man.Failed += c.Failed
	}
	return man, done, next, nil
}

// isTemp reports whether name is one of shard s's files being written (or
// cut short): atomicfile's temporary names are the target's, after a dot,
// with a number after.
func isTemp(name string, s Shard) bool {
	tag := fmt.Sprintf("-%05d-of-%05d", s.K, s.N)
	for _, prefix := range []string{".part" + tag + "-", "._manifest" + tag + ".json", "._inputs" + tag + ".jsonl"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

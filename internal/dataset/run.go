package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gofrs/flock"

	"github.com/hybridembed/hybridembed"
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
// an interrupted run: inputs already in a committed chunk are skipped, so
// every input is in the dataset exactly once however often the shard is
// killed and rerun. Only one process may run a shard at a time.
//
// A shard with nothing committed writes nothing until an input embeds: a
// run in which every input fails returns [ErrNothingEmbedded], and one cut
// short before then returns its cause; either leaves the folder as it was
// (one it created is removed again).
func Run(ctx context.Context, emb ImageEmbedder, inputs []Input, opts Options) (res Result, err error) {
	if err := opts.Shard.valid(); err != nil {
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

	man, done, err := resume(dir, opts.Shard, opts.Model)
	if err != nil {
		return res, err
	}
	man.Tool = opts.Tool
	res.Inputs = len(inputs)
	var todo []Input
	for _, in := range inputs {
		if done[in.Path] {
			res.Committed++
		} else {
			todo = append(todo, in)
		}
	}
	man.Inputs = len(inputs)
	man.Complete = false

	var pending []Row
	// Failures are held back until something embeds: a run that embeds
	// nothing must not turn a typo into a dataset of errors.
	keep := res.Committed > 0
	commit := func() error {
		if len(pending) == 0 || !keep {
			return nil
		}
		wrote = true
		name := chunkName(opts.Shard, len(man.Chunks))
		if err := writeChunk(dir, name, pending); err != nil {
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

	files := make([]*hashedFile, len(todo))
	images := make([]hybridembed.Image, len(todo))
	for i, in := range todo {
		files[i] = &hashedFile{path: in.Path}
		images[i] = hybridembed.ImageReader(in.Path, files[i])
	}
	m := opts.Model
	err = emb.EmbedImagesFunc(ctx, images, func(i int, e hybridembed.Embedding, eerr error) error {
		f := files[i]
		ferr := f.finish()
		files[i] = nil
		row := Row{Path: todo[i].Path, Model: m.Name, Revision: m.Revision, Variant: m.Variant, Dim: int32(m.Dim),
			Size: f.size, Mtime: f.mtime, SHA256: f.sum}
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
			row.Embedding = e.Vector
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
	for _, f := range files {
		if f != nil {
			f.close()
		}
	}
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
	man.Complete = true
	res.Complete = true
	wrote = true
	return res, writeManifest(dir, man)
}

// resume reads what the shard has committed: the chunk files on disk are
// the truth (a crash may land between a chunk's rename and the manifest's),
// so the manifest is rebuilt from them. Leftover temporary files go.
func resume(dir string, s Shard, model Model) (*Manifest, map[string]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	man := &Manifest{Version: 1, Shard: s.K, Shards: s.N, Model: model}
	if old, err := readManifest(filepath.Join(dir, manifestName(s))); err == nil {
		if !old.Model.same(model) {
			return nil, nil, fmt.Errorf("%s: %w: shard %s was made with %s (revision %q, variant %q); this run uses %s: write to another folder",
				dir, ErrOtherRun, s, old.Model.Name, old.Model.Revision, old.Model.Variant, model.Name)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	done := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".part-") || strings.HasPrefix(name, "._manifest-") {
			if strings.HasSuffix(name, ".tmp") && strings.Contains(name, fmt.Sprintf("-%05d-of-%05d", s.K, s.N)) {
				os.Remove(filepath.Join(dir, name)) // a chunk or manifest cut short
			}
			continue
		}
		if strings.HasPrefix(name, "_manifest-") {
			var k, n int
			if _, err := fmt.Sscanf(name, "_manifest-%05d-of-%05d.json", &k, &n); err == nil && n != s.N {
				return nil, nil, fmt.Errorf("%s: %w: it has shards of a %d-way run; this is a %d-way run", dir, ErrOtherRun, n, s.N)
			}
			continue
		}
		cs, _, ok := parseChunk(name)
		if !ok || cs != s {
			continue
		}
		rows, err := readCommitted(filepath.Join(dir, name))
		if err != nil {
			return nil, nil, err
		}
		c := Chunk{File: name, Rows: len(rows)}
		for _, r := range rows {
			if r.Revision != model.Revision || r.Variant != model.Variant || int(r.Dim) != model.Dim {
				return nil, nil, fmt.Errorf("%s: %w: %s holds vectors of %s", dir, ErrOtherRun, name, r.Model)
			}
			done[r.Path] = true
			if r.Error != nil {
				c.Failed++
			}
		}
		man.Chunks = append(man.Chunks, c)
		man.Rows += c.Rows
		man.Failed += c.Failed
	}
	return man, done, nil
}

// hashedFile is an image file opened on first read, hashed as the decoder
// reads it, so that the dataset records the sha256 of exactly the bytes
// embedded without a second read.
type hashedFile struct {
	path         string
	f            *os.File
	h            hash.Hash
	size, mtime  int64
	sum          string
	eof, started bool
	err          error
}

func (r *hashedFile) open() error {
	r.started = true
	f, err := os.Open(r.path)
	if err != nil {
		r.err = err
		return err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file", r.path)
	}
	if err != nil {
		f.Close()
		r.err = err
		return err
	}
	r.f, r.h, r.size, r.mtime = f, sha256.New(), st.Size(), st.ModTime().UnixNano()
	return nil
}

func (r *hashedFile) Read(p []byte) (int, error) {
	if !r.started {
		if err := r.open(); err != nil {
			return 0, err
		}
	}
	if r.f == nil {
		return 0, r.err
	}
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	if err == io.EOF {
		r.eof = true
	}
	return n, err
}

// finish hashes what the decoder did not read (it may stop early, or
// never start when the image failed), and closes the file.
func (r *hashedFile) finish() error {
	if !r.started {
		if err := r.open(); err != nil {
			return nil // the embedding error says it already
		}
	}
	if r.f == nil {
		return nil
	}
	defer r.close()
	if !r.eof {
		if _, err := io.Copy(r.h, r.f); err != nil {
			return fmt.Errorf("reading %s: %w", r.path, err)
		}
	}
	r.sum = hex.EncodeToString(r.h.Sum(nil))
	return nil
}

func (r *hashedFile) close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

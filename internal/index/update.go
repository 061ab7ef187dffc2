package index

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/filehash"
	"github.com/hybridembed/hybridembed/internal/library"
)

// ImageEmbedder computes image vectors; *hybridembed.Model is one.
type ImageEmbedder interface {
	EmbedImagesFunc(ctx context.Context, images []hybridembed.Image, fn func(i int, emb hybridembed.Embedding, err error) error) error
}

// UpdateOptions tune [Index.Update]. The zero value is usable.
type UpdateOptions struct {
	// RetryFailed embeds again the files that failed before; otherwise a
	// failed file is retried only once it changes.
	RetryFailed bool
	// CommitEvery is how many vectors go into one transaction (default
	// 256): a crash loses at most that much work.
	CommitEvery int
	// Waiting is called once when another process holds the index, before
	// waiting for it.
	Waiting func()
	// Phase is called as each phase starts: "scanning", "hashing" (total
	// bytes) and "embedding" (total images); Step reports progress in the
	// phase's unit. Both may be nil.
	Phase func(name string, total int64)
	Step  func(n int64)
	// Failed is called for each file that fails in this run.
	Failed func(path string, err error)
	// Walk says which files are the library's: by default, not those in
	// hidden folders or OS clutter (see library.Options).
	Walk library.Options
}

// Stats says what an update found and did. Counts are of paths.
type Stats struct {
	New       int // paths not seen before
	Changed   int // paths whose contents changed
	Renamed   int // new paths whose contents were at a path now gone
	Unchanged int
	Removed   int // paths gone from the library, purged from the index
	// Kept are stored paths at or under a path the walk could not read
	// (each reported as failed): not seen, not proven gone, kept as they
	// were.
	Kept int
	// Excluded are stored paths the walk now leaves out, as hidden or OS
	// clutter (indexed before hybridembed skipped them, or with
	// --include-hidden): purged, since the user's library is what a walk
	// takes, and counted in Removed too.
	Excluded int
	// Unsupported are stored paths of photos the walk found but cannot
	// decode here (HEIC where libheif is not installed): there, so kept
	// as they were.
	Unsupported int
	Failed      int // paths that failed in this run
	// KnownFailed are paths that failed in an earlier run and were not
	// retried (see RetryFailed).
	KnownFailed int

	// Pending are unchanged paths that an earlier run with this model left
	// with no vector (it was interrupted, or the file could not be read
	// again): they are embedded now, and not counted as Unchanged.
	Pending     int
	Embedded    int   // images embedded and stored in this run (failures are Failed)
	Reused      int   // paths that got a stored vector with no inference
	BytesHashed int64 // image bytes read to hash new and changed files

	// Skipped is what the walk left out (hidden, clutter, unsupported,
	// link loops).
	Skipped library.Skipped
}

// Update brings the index up to date for the files under paths (files and
// folders, as [library.Walk] finds them) and embeds what has no vector for
// model. It holds the index's process lock while it runs, so a second
// update waits; searches are not blocked.
//
// Only what a walk proved gone, or no longer takes, is purged: a path that
// cannot be stat'ed fails the whole update ([library.ArgErrors]) before
// anything changes; the rows at or under a folder or file the walk could
// not read are kept (counted in Stats.Kept; the path is reported as
// failed), and so are the rows of photos it found but cannot decode here
// (Stats.Unsupported); rows under what it leaves out as hidden or clutter
// are purged (Stats.Excluded).
//
// A vector is stored under the sha256 of the very bytes it was computed
// from: an image is hashed again as the model reads it, and when the file
// was rewritten after its first hashing, its row follows the new bytes.
//
// It is safe to kill at any moment: file rows and vectors are committed in
// batches, and a rerun embeds only what has no vector.
func (ix *Index) Update(ctx context.Context, model Model, emb ImageEmbedder, paths []string, opts UpdateOptions) (st Stats, err error) {
	if err := model.check(); err != nil {
		return st, err
	}
	if err := library.Check(paths); err != nil {
		return st, err
	}
	if err := ix.lockWrite(ctx, opts.Waiting); err != nil {
		return st, err
	}
	defer ix.unlockWrite()
	phase := func(name string, total int64) {
		if opts.Phase != nil {
			opts.Phase(name, total)
		}
	}
	step := func(n int64) {
		if opts.Step != nil {
			opts.Step(n)
		}
	}
	failed := func(path string, err error) {
		st.Failed++
		if opts.Failed != nil {
			opts.Failed(path, err)
		}
	}

	phase("scanning", 0)
	sc, err := ix.scope(paths)
	if err != nil {
		return st, err
	}
	res := opts.Walk.Walk(paths)
	walked := res.Files
	st.Skipped = res.Skipped
	var unknown []string // stored paths at or under these were not seen
	for _, p := range res.Problems {
		failed(p.Path, p.Err)
		rel, err := ix.rel(p.Path)
		if err != nil {
			return st, err
		}
		unknown = append(unknown, rel)
	}
	var left []string // nor these, which are not the library's
	for _, p := range res.Skipped.Left {
		rel, err := ix.rel(p)
		if err != nil {
			return st, err
		}
		left = append(left, rel)
	}
	undecodable := map[string]bool{} // there, and not to be read here
	for _, u := range res.Skipped.Unsupported {
		for _, p := range u.Paths {
			rel, err := ix.rel(p)
			if err != nil {
				return st, err
			}
			undecodable[rel] = true
		}
	}
	stored, err := ix.storedFiles(ctx, sc)
	if err != nil {
		return st, err
	}

	// Classify each file by size and mtime; only new and changed files are
	// read, to hash them.
	var files []scanned
	var toHash []int
	var hashBytes int64
	present := make(map[string]bool, len(walked))
	for _, f := range walked {
		rel, err := ix.rel(f.Path)
		if err != nil {
			return st, err
		}
		if present[rel] {
			continue // named twice
		}
		present[rel] = true
		row := fileRow{size: f.Info.Size(), mtime: f.Info.ModTime().UnixNano()}
		old, ok := stored[rel]
		if ok && old.size == row.size && old.mtime == row.mtime {
			row.hash = old.hash
			st.Unchanged++
		} else {
			toHash = append(toHash, len(files))
			hashBytes += row.size
		}
		files = append(files, scanned{rel: rel, path: f.Path, row: row, isNew: !ok})
	}
	phase("hashing", hashBytes)
	for _, i := range toHash {
		f := &files[i]
		h, n, err := filehash.Sum(ctx, f.path, step)
		st.BytesHashed += n
		if err != nil {
			if ctx.Err() != nil {
				return st, ctx.Err()
			}
			failed(f.path, err)
			f.row.hash = nil
			continue
		}
		f.row.hash = h
	}

	// Paths that vanished; a new path with a vanished path's contents is a
	// rename. What the walk could not read is not proven gone.
	gone := map[string]int{}
	var removed []string
	for rel, row := range stored {
		switch {
		case present[rel]:
		case under(rel, unknown):
			st.Kept++
		case undecodable[rel]:
			st.Unsupported++
		case under(rel, left):
			st.Excluded++
			removed = append(removed, rel)
			gone[string(row.hash)]++
		default:
			removed = append(removed, rel)
			gone[string(row.hash)]++
		}
	}
	st.Removed = len(removed)
	var upserts []scanned
	for _, i := range toHash {
		f := files[i]
		if f.row.hash == nil {
			continue
		}
		old := stored[f.rel]
		switch {
		case f.isNew && gone[string(f.row.hash)] > 0:
			gone[string(f.row.hash)]--
			st.Renamed++
			st.Removed--
		case f.isNew:
			st.New++
		case bytes.Equal(old.hash, f.row.hash):
			st.Unchanged++ // touched, same contents
		default:
			st.Changed++
		}
		upserts = append(upserts, f)
	}
	// A model this index knew before this run, whose vectors an unchanged
	// file lacks, left it unembedded (an interrupted run); for a model new
	// here, every file is still to embed.
	_, known, err := ix.modelID(ctx, model, false)
	if err != nil {
		return st, err
	}
	modelID, _, err := ix.modelID(ctx, model, true)
	if err != nil {
		return st, err
	}
	// The contents rows leave behind: their vectors go in the same
	// transaction as the rows, where no other row has those contents, so a
	// kill before the purge at the end never leaves them for good.
	var dropped [][]byte
	for _, rel := range removed {
		dropped = append(dropped, stored[rel].hash)
	}
	for _, f := range upserts {
		if old, ok := stored[f.rel]; ok && !bytes.Equal(old.hash, f.row.hash) {
			dropped = append(dropped, old.hash)
		}
	}
	if err := ix.inTx(ctx, func(tx *sql.Tx) error {
		del, err := tx.PrepareContext(ctx, `DELETE FROM files WHERE path = ?`)
		if err != nil {
			return err
		}
		defer del.Close()
		for _, rel := range removed {
			if _, err := del.ExecContext(ctx, rel); err != nil {
				return err
			}
		}
		put, err := tx.PrepareContext(ctx, `INSERT INTO files (path, size, mtime, hash) VALUES (?,?,?,?)
			ON CONFLICT (path) DO UPDATE SET size=excluded.size, mtime=excluded.mtime, hash=excluded.hash`)
		if err != nil {
			return err
		}
		defer put.Close()
		for _, f := range upserts {
			if _, err := put.ExecContext(ctx, f.rel, f.row.size, f.row.mtime, f.row.hash); err != nil {
				return err
			}
		}
		return purgeOrphans(ctx, tx, dropped)
	}); err != nil {
		return st, err
	}

	// What this model has no vector for: one image per distinct content.
	vectors, err := ix.modelVectors(ctx, modelID)
	if err != nil {
		return st, err
	}
	var todo []scanned
	queued := map[string]bool{}
	for _, f := range files {
		if f.row.hash == nil {
			continue
		}
		h := string(f.row.hash)
		state, ok := vectors[h]
		switch {
		case queued[h]:
			st.Reused++ // a duplicate of an image embedded in this run
		case !ok, state == stateFailed && opts.RetryFailed:
			queued[h] = true
			todo = append(todo, f)
			if !ok && known && !f.isNew && bytes.Equal(stored[f.rel].hash, f.row.hash) {
				st.Unchanged-- // its row was stored, its vector never was
				st.Pending++
			}
		case state == stateFailed:
			st.KnownFailed++
		case f.isNew || !bytes.Equal(stored[f.rel].hash, f.row.hash):
			st.Reused++
		}
	}
	phase("embedding", int64(len(todo)))
	rewritten := 0
	if len(todo) > 0 {
		if rewritten, err = ix.embed(ctx, modelID, model.Dim, emb, todo, opts, step, func(i int, err error) { failed(todo[i].path, err) }, &st); err != nil {
			return st, err
		}
	}
	if st.Removed > 0 || st.Changed > 0 || st.Renamed > 0 || rewritten > 0 {
		if err := ix.purge(ctx); err != nil {
			return st, err
		}
	}
	return st, nil
}

// under reports whether the stored path rel is one of dirs or below one.
func under(rel string, dirs []string) bool {
	for _, d := range dirs {
		if d == "." && !strings.HasPrefix(rel, "../") || rel == d || strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

// embed runs the model over todo and commits vectors (or errors) in
// batches of opts.CommitEvery. Each image is hashed again as the model
// reads it, and its vector is stored under that hash; a file rewritten
// since it was hashed gets its row moved to the new bytes (rewritten
// counts them). A file that cannot be opened again stores nothing.
func (ix *Index) embed(ctx context.Context, modelID int64, dim int, emb ImageEmbedder, todo []scanned, opts UpdateOptions, step func(int64), failed func(int, error), st *Stats) (rewritten int, err error) {
	every := opts.CommitEvery
	if every <= 0 {
		every = 256
	}
	type result struct {
		hash   []byte
		vector []byte
		err    string
		file   *scanned // the file's new row, when it was rewritten
		was    []byte   // then, the hash its row had
	}
	var pending []result
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		// A commit must land even when the run was just cancelled: the
		// work is done.
		err := ix.inTx(context.WithoutCancel(ctx), func(tx *sql.Tx) error {
			put, err := tx.Prepare(`INSERT INTO vectors (model, hash, vector, error) VALUES (?,?,?,?)
				ON CONFLICT (model, hash) DO UPDATE SET vector=excluded.vector, error=excluded.error`)
			if err != nil {
				return err
			}
			defer put.Close()
			move, err := tx.Prepare(`UPDATE files SET size = ?, mtime = ?, hash = ? WHERE path = ?`)
			if err != nil {
				return err
			}
			defer move.Close()
			var dropped [][]byte
			for _, r := range pending {
				var vec, msg any
				if r.vector != nil {
					vec = r.vector
				} else {
					msg = r.err
				}
				if _, err := put.Exec(modelID, r.hash, vec, msg); err != nil {
					return err
				}
				if f := r.file; f != nil {
					if _, err := move.Exec(f.row.size, f.row.mtime, f.row.hash, f.rel); err != nil {
						return err
					}
					dropped = append(dropped, r.was)
				}
			}
			return purgeOrphans(context.WithoutCancel(ctx), tx, dropped)
		})
		pending = pending[:0]
		return err
	}
	readers := make([]*filehash.Reader, len(todo))
	images := make([]hybridembed.Image, len(todo))
	for i, f := range todo {
		readers[i] = filehash.NewReader(f.path)
		images[i] = hybridembed.ImageReader(f.path, readers[i])
	}
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	err = emb.EmbedImagesFunc(ctx, images, func(i int, e hybridembed.Embedding, err error) error {
		step(1)
		read, rerr := readers[i].Finish()
		if rerr != nil {
			// Gone or unreadable since it was hashed: what the model saw,
			// if anything, has no hash to file it under.
			failed(i, cmp.Or(err, rerr))
			return nil
		}
		r := result{hash: read.Sum}
		if !bytes.Equal(read.Sum, todo[i].row.hash) {
			f := todo[i]
			f.row = fileRow{size: read.Size, mtime: read.Mtime, hash: read.Sum}
			r.file, r.was = &f, todo[i].row.hash
			rewritten++
		}
		switch {
		case err != nil:
			r.err = err.Error()
			failed(i, err)
		case len(e.Vector) != dim:
			r.err = fmt.Sprintf("the model gave %d numbers, not %d", len(e.Vector), dim)
			failed(i, errors.New(r.err))
		default:
			r.vector = encode(e.Vector)
			st.Embedded++
		}
		pending = append(pending, r)
		if len(pending) >= every {
			return flush()
		}
		return nil
	})
	return rewritten, errors.Join(err, flush())
}

// purgeOrphans drops, in tx, the vectors (of every model) of the contents
// in hashes that no file row has any more. Rows the walk kept (under a
// folder it could not read) and imported rows still have theirs.
func purgeOrphans(ctx context.Context, tx *sql.Tx, hashes [][]byte) error {
	if len(hashes) == 0 {
		return nil
	}
	// "model IN" lets SQLite find each model's row by the (model, hash)
	// index rather than scan every vector for each hash.
	del, err := tx.PrepareContext(ctx, `DELETE FROM vectors WHERE model IN (SELECT id FROM models) AND hash = ?1
		AND NOT EXISTS (SELECT 1 FROM files WHERE hash = ?1)`)
	if err != nil {
		return err
	}
	defer del.Close()
	for _, h := range hashes {
		if _, err := del.ExecContext(ctx, h); err != nil {
			return err
		}
	}
	return nil
}

// purge drops vectors no file refers to any more.
func (ix *Index) purge(ctx context.Context) error {
	_, err := ix.db.ExecContext(ctx, `DELETE FROM vectors WHERE hash NOT IN (SELECT hash FROM files)`)
	return err
}

// lockWrite takes the process lock, waiting (and saying so once) while
// another process holds it.
func (ix *Index) lockWrite(ctx context.Context, waiting func()) error {
	ix.mu.Lock()
	ok, err := ix.lock.TryLock()
	if err != nil {
		ix.mu.Unlock()
		return fmt.Errorf("index %s: lock: %w", ix.path, err)
	}
	if ok {
		return nil
	}
	if waiting != nil {
		waiting()
	}
	if _, err := ix.lock.TryLockContext(ctx, 250*time.Millisecond); err != nil {
		ix.mu.Unlock()
		return fmt.Errorf("index %s: waiting for another process: %w", ix.path, err)
	}
	return nil
}

// unlockWrite releases what lockWrite took.
func (ix *Index) unlockWrite() {
	_ = ix.lock.Unlock()
	ix.mu.Unlock()
}

func (ix *Index) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := ix.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// scanned is a file found in the library, with its row as it should now be.
type scanned struct {
	rel, path string
	row       fileRow
	isNew     bool
}

type fileRow struct {
	size, mtime int64
	hash        []byte
}

// storedFiles reads the rows in scope.
func (ix *Index) storedFiles(ctx context.Context, sc scope) (map[string]fileRow, error) {
	where, args := sc.where()
	rows, err := ix.db.QueryContext(ctx, `SELECT path, size, mtime, hash FROM files WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]fileRow{}
	for rows.Next() {
		var rel string
		var r fileRow
		if err := rows.Scan(&rel, &r.size, &r.mtime, &r.hash); err != nil {
			return nil, err
		}
		out[rel] = r
	}
	return out, rows.Err()
}

type vectorState uint8

const (
	stateOK vectorState = iota
	stateFailed
)

// modelVectors is which contents the model has a vector or a failure for.
func (ix *Index) modelVectors(ctx context.Context, modelID int64) (map[string]vectorState, error) {
	rows, err := ix.db.QueryContext(ctx, `SELECT hash, vector IS NULL FROM vectors WHERE model = ?`, modelID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]vectorState{}
	for rows.Next() {
		var h []byte
		var bad bool
		if err := rows.Scan(&h, &bad); err != nil {
			return nil, err
		}
		out[string(h)] = stateOK
		if bad {
			out[string(h)] = stateFailed
		}
	}
	return out, rows.Err()
}

func encode(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

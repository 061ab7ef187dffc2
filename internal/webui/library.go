package webui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hybridembed/hybridembed/internal/index"
	"github.com/hybridembed/hybridembed/internal/library"
)

// folder is one library served: its index, its background updates and
// the vectors loaded from the last one.
type folder struct {
	ui   *UI
	n    int    // position in Config.Libraries
	dir  string // absolute
	real string // dir with its links followed, to compare folders
	name string // shown on the page
	root *os.Root

	ixFile, ixRoot string
	ix             atomic.Pointer[index.Index] // nil until the folder holds an image

	trigger chan struct{} // something changed: rescan soon

	mu     sync.Mutex
	status Status
	snap   atomic.Pointer[libSnap]
}

// Status is what the page shows of a library's indexing.
type Status struct {
	Library string `json:"library"`
	// Phase is "starting", "waiting" (for another process updating the
	// index), "scanning", "hashing", "embedding", "ready" or
	// "failed" (Error says why; the last vectors loaded stay searchable).
	Phase string `json:"phase"`
	// Done and Total count the phase's work: bytes while hashing, images
	// while embedding.
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
	// Photos are the images searchable now.
	Photos int `json:"photos"`
	// Failed are the files that could not be read or embedded in the last
	// update.
	Failed int    `json:"failed"`
	Error  string `json:"error,omitempty"`
	// Watching is true while file notifications keep the library current
	// (else only the periodic rescans do).
	Watching bool      `json:"watching"`
	Updated  time.Time `json:"updated,omitzero"`
}

// Busy reports whether the library is being indexed.
func (s Status) Busy() bool {
	switch s.Phase {
	case "ready", "failed":
		return false
	}
	return true
}

func (l *folder) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

func (l *folder) setStatus(fn func(*Status)) {
	l.mu.Lock()
	fn(&l.status)
	l.mu.Unlock()
}

// openIndex opens the library's index, making it when missing.
func (l *folder) openIndex(ctx context.Context) (*index.Index, error) {
	if ix := l.ix.Load(); ix != nil {
		return ix, nil
	}
	ix, err := l.ui.index(ctx, l.ixFile, l.ixRoot)
	if err != nil {
		return nil, err
	}
	l.ix.Store(ix)
	return ix, nil
}

// run indexes the library, then keeps it current: an update after each
// burst of file changes (when notifications work) and every rescan
// interval, until ctx ends.
func (l *folder) run(ctx context.Context) {
	if ix := l.ix.Load(); ix != nil {
		l.reload(ctx, ix) // searchable at once, before the first update
	}
	w := l.watch(ctx)
	if w != nil {
		defer w.Close()
	}
	every := l.ui.cfg.Rescan
	if every <= 0 {
		every = time.Minute
		if w != nil {
			every = time.Hour
		}
	}
	for {
		l.update(ctx)
		// A burst of changes (a folder copied in) is waited out: rescan
		// once it has been quiet for a second, or after ten seconds.
		select {
		case <-ctx.Done():
			return
		case <-l.trigger:
		case <-time.After(every):
		}
		quiet, deadline := time.NewTimer(time.Second), time.After(10*time.Second)
	settle:
		for {
			select {
			case <-ctx.Done():
				quiet.Stop()
				return
			case <-l.trigger:
				quiet.Reset(time.Second)
			case <-quiet.C:
				break settle
			case <-deadline:
				quiet.Stop()
				break settle
			}
		}
	}
}

// poke asks for a rescan soon.
func (l *folder) poke() {
	select {
	case l.trigger <- struct{}{}:
	default:
	}
}

// update brings the index up to date for the library, exactly as `index
// DIR` does (Index.Update: nothing is purged that a complete walk did not
// prove gone), and loads the vectors when anything changed. While a long
// first index embeds, what it has committed is loaded every little while,
// so the page can search the photos done so far.
func (l *folder) update(ctx context.Context) {
	ix := l.ix.Load()
	if ix == nil {
		if !library.HasImage([]string{l.dir}) {
			l.setStatus(func(s *Status) { s.Phase, s.Done, s.Total, s.Error = "ready", 0, 0, "" })
			return // no index is made for a folder with no image
		}
		var err error
		if ix, err = l.openIndex(ctx); err != nil {
			if ctx.Err() == nil {
				l.fail(err)
			}
			return
		}
	}
	var progress atomic.Int64
	var embedding atomic.Bool
	stopLoads := make(chan struct{})
	loadsDone := make(chan struct{})
	go func() { // loads while embedding
		defer close(loadsDone)
		loaded := int64(0)
		for {
			wait := max(5*time.Second, 10*l.lastLoad())
			select {
			case <-stopLoads:
				return
			case <-time.After(wait):
			}
			if n := progress.Load(); embedding.Load() && n > loaded {
				loaded = n
				l.reload(ctx, ix)
			}
		}
	}()
	st, err := ix.Update(ctx, l.ui.im, unitImages{l.ui.model}, []string{l.dir}, index.UpdateOptions{
		Waiting: func() { l.setStatus(func(s *Status) { s.Phase = "waiting" }) },
		Phase: func(name string, total int64) {
			embedding.Store(name == "embedding")
			l.setStatus(func(s *Status) { s.Phase, s.Done, s.Total = name, 0, total })
		},
		Step: func(n int64) {
			progress.Add(n)
			l.setStatus(func(s *Status) { s.Done += n })
		},
		Failed: func(path string, err error) {
			l.ui.log.Warn("index", "library", l.name, "path", path, "error", err.Error())
		},
	})
	close(stopLoads)
	<-loadsDone
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		l.fail(err)
		return
	}
	changed := st.New+st.Changed+st.Renamed+st.Removed+st.Embedded > 0
	l.ui.log.Info("indexed", "library", l.name, "new", st.New, "changed", st.Changed, "renamed", st.Renamed,
		"unchanged", st.Unchanged, "removed", st.Removed, "kept", st.Kept, "failed", st.Failed, "embedded", st.Embedded)
	if changed || l.snap.Load() == nil {
		l.reload(ctx, ix)
	}
	l.setStatus(func(s *Status) {
		s.Phase, s.Done, s.Total, s.Failed, s.Error, s.Updated = "ready", 0, 0, st.Failed, "", time.Now()
	})
}

func (l *folder) fail(err error) {
	l.ui.log.Error("index", "library", l.name, "error", err.Error())
	l.setStatus(func(s *Status) { s.Phase, s.Error = "failed", err.Error() })
}

// lastLoad is how long the last load of the vectors took.
func (l *folder) lastLoad() time.Duration {
	if s := l.snap.Load(); s != nil {
		return s.took
	}
	return 0
}

// reload reads the library's vectors and files from the index and
// publishes them. A failure keeps what was loaded before.
func (l *folder) reload(ctx context.Context, ix *index.Index) {
	start := time.Now()
	s, err := l.load(ctx, ix)
	if err != nil {
		if ctx.Err() == nil {
			l.fail(err)
		}
		return
	}
	s.took = time.Since(start)
	l.snap.Store(s)
	l.setStatus(func(st *Status) { st.Photos = len(s.photos) })
	l.ui.publish()
}

func (l *folder) load(ctx context.Context, ix *index.Index) (*libSnap, error) {
	mat, err := ix.Load(ctx, l.ui.im, []string{l.dir})
	if err != nil {
		return nil, err
	}
	files, err := ix.Files(ctx, []string{l.dir})
	if err != nil {
		return nil, err
	}
	s := &libSnap{lib: l, mat: mat, photos: make([]photo, mat.Len())}
	for i, stored := range mat.Paths {
		rel, err := filepath.Rel(l.dir, ix.Abs(stored))
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue // not under the library (cannot happen: Load is scoped to it)
		}
		rel = filepath.ToSlash(rel)
		f := files[stored]
		s.photos[i] = photo{ID: photoID(l.dir, rel), Rel: rel, Hash: f.Hash, Size: f.Size, Mtime: f.Mtime, lib: l, row: i}
	}
	return s, nil
}

// photoID names a photo for clients: stable across rescans and restarts
// (it depends only on the library folder and the photo's path in it), and
// never a path itself.
func photoID(dir, rel string) string {
	sum := sha256.Sum256([]byte(dir + "\x00" + rel))
	return hex.EncodeToString(sum[:10])
}

// open opens a photo of the library for reading, through the library's
// os.Root: a name that leaves the folder, by "..", an absolute path or a
// symbolic link pointing out, fails.
func (l *folder) open(rel string) (*os.File, error) {
	if l.root == nil {
		return nil, os.ErrClosed
	}
	f, err := l.root.Open(filepath.FromSlash(rel))
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, errors.New("not a regular file")
	}
	return f, nil
}

package webui

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/index"
	"github.com/hybridembed/hybridembed/internal/pooling"
	"github.com/hybridembed/hybridembed/internal/thumb"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/models/layout"
)

// Preview sizes, in pixels on the longest side: the grid's and the photo
// view's. No other size is made, whatever a client asks.
const (
	SmallSize = 320
	LargeSize = 1280
)

// PageSize is how many results one request returns.
const PageSize = 48

// MaxResults is how deep the results of one query go.
const MaxResults = 10000

// Config is what the page serves and how it guards itself.
type Config struct {
	// Libraries are the folders to index and search. None may be inside
	// another; each is indexed where `hybridembed index DIR` would index it.
	Libraries []string
	// Model embeds the libraries' images and the queries: a CLIP-family
	// model whose files are on this machine.
	Model *hybridembed.Model
	// ThumbDir is where previews are kept (default: hybridembed's cache,
	// $HYBRIDEMBED_CACHE/thumbs). It may not be inside a library.
	ThumbDir string
	// APIKeys, when any, are what the sign-in form accepts; a signed-in
	// browser holds a session cookie. Without keys the page is open, as the
	// API is.
	APIKeys []string
	// LoopbackOnly refuses requests whose Host is not a loopback name or
	// address, so that a page on another site cannot reach an open server
	// on this machine through DNS rebinding. For a server on loopback with
	// no keys.
	LoopbackOnly bool
	// Rescan is how often each library is walked again in full (default:
	// an hour where file notifications work, a minute where they do not).
	Rescan time.Duration
	// Notify turns file-system notifications on where the platform has
	// them (the default in cmd; tests can turn them off).
	Notify bool
	// MaxUpload caps an image sent as a query (default 32 MiB).
	MaxUpload int64
	// WithBody, when set, reads the body of a POST (an image sent as a
	// query) under the embedding server's limits: its memory budget and
	// timeouts (server.Server.WithBody). Without it the page reads the body
	// itself, up to MaxUpload.
	WithBody func(h func(w http.ResponseWriter, r *http.Request, body []byte)) http.Handler
	// MaxPixels caps what an image (a photo for its preview, an image
	// query) may decode to (default: imageprep's).
	MaxPixels int64
	// Logger gets one line per request (no query text) and the indexing
	// summaries.
	Logger *slog.Logger
}

// UI is the page's handler and its libraries' background indexing. Build
// it with New, Start it, and Close it.
type UI struct {
	cfg      Config
	model    *hybridembed.Model
	im       index.Model
	libs     []*folder
	thumbs   *thumb.Cache
	log      *slog.Logger
	tpl      *template.Template
	static   map[string]asset
	keys     [][]byte
	logins   *limiter
	vectors  *lru.Cache[string, []float32] // query term vectors
	rankings *lru.Cache[string, *ranking]  // recent queries' results
	embeds   chan struct{}                 // query embeddings in flight

	snap   atomic.Pointer[snapshot]
	pubMu  sync.Mutex
	ixMu   sync.Mutex
	ixs    map[string]*index.Index // by index file, shared by libraries
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New checks the libraries and opens their indexes (an index is made only
// once its folder holds an image, as `index` does). It starts nothing.
func New(ctx context.Context, cfg Config) (*UI, error) {
	if len(cfg.Libraries) == 0 {
		return nil, errors.New("webui: no library to serve")
	}
	if cfg.Model == nil {
		return nil, errors.New("webui: no model")
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = 32 << 20
	}
	if cfg.MaxPixels <= 0 {
		cfg.MaxPixels = imageprep.DefaultMaxPixels
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ThumbDir == "" {
		cfg.ThumbDir = filepath.Join(layout.HomeDir(), "thumbs")
	}
	info, err := index.ImageModelInfo(ctx, cfg.Model, "the search page")
	if err != nil {
		return nil, err
	}
	// The index holds unit vectors under the normalised model's identity,
	// as `index` writes them, whatever the Embedder's own setting (serve's
	// leaves normalising to each request): both share every vector.
	info.Normalized = true
	im := index.ModelOf(info)
	u := &UI{cfg: cfg, model: cfg.Model, im: im, log: cfg.Logger, ixs: map[string]*index.Index{},
		logins: newLimiter(5, time.Second), embeds: make(chan struct{}, 2*runtime.GOMAXPROCS(0))}
	for _, k := range cfg.APIKeys {
		if k == "" {
			return nil, errors.New("webui: an empty API key")
		}
		u.keys = append(u.keys, []byte(k))
	}
	if u.vectors, err = lru.New[string, []float32](512); err != nil {
		return nil, err
	}
	// 64 queries of ten pages hold 30,720 hits: a few hundred kilobytes.
	if u.rankings, err = lru.New[string, *ranking](64); err != nil {
		return nil, err
	}
	if u.tpl, u.static, err = loadAssets(); err != nil {
		return nil, err
	}
	if err := u.openLibraries(); err != nil {
		u.Close()
		return nil, err
	}
	thumbDir, err := filepath.Abs(cfg.ThumbDir)
	if err != nil {
		u.Close()
		return nil, err
	}
	for _, l := range u.libs {
		if within(resolved(thumbDir), l.real) {
			u.Close()
			return nil, fmt.Errorf("the preview cache %s is inside the library %s: choose a folder outside it", thumbDir, l.dir)
		}
	}
	u.thumbs = thumb.NewCache(thumbDir, max(2, runtime.GOMAXPROCS(0)/2), imageprep.Limits{MaxPixels: cfg.MaxPixels})
	u.thumbs.WriteError = func(err error) { u.log.Warn("preview not kept", "dir", thumbDir, "error", err.Error()) }
	u.publish()
	return u, nil
}

// openLibraries checks each library folder and opens its index.
func (u *UI) openLibraries() error {
	names := map[string]int{}
	for _, dir := range u.cfg.Libraries {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("--library %s: %w", dir, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return fmt.Errorf("--library %s: %w", dir, err)
		}
		if !st.IsDir() {
			return fmt.Errorf("--library %s: not a folder", dir)
		}
		l := &folder{ui: u, n: len(u.libs), dir: abs, real: resolved(abs), name: filepath.Base(abs), trigger: make(chan struct{}, 1)}
		for _, o := range u.libs {
			if within(l.real, o.real) || within(o.real, l.real) {
				return fmt.Errorf("--library %s and --library %s overlap: give folders that are not inside one another", o.dir, l.dir)
			}
		}
		if l.root, err = os.OpenRoot(abs); err != nil {
			return fmt.Errorf("--library %s: %w", dir, err)
		}
		if l.ixFile, l.ixRoot, err = index.Locate([]string{abs}, ""); err != nil {
			return fmt.Errorf("--library %s: %w", dir, err)
		}
		names[l.name]++
		u.libs = append(u.libs, l)
	}
	for _, l := range u.libs {
		if names[l.name] > 1 { // two folders of one name: show their parents too
			l.name = filepath.Join(filepath.Base(filepath.Dir(l.dir)), l.name)
		}
		l.status = Status{Library: l.name, Phase: "starting"}
		if _, err := os.Stat(l.ixFile); err == nil {
			if _, err := l.openIndex(context.Background()); err != nil {
				return fmt.Errorf("--library %s: %w", l.dir, err)
			}
		}
	}
	return nil
}

// index opens (once) the index file shared by the libraries it covers.
func (u *UI) index(ctx context.Context, file, root string) (*index.Index, error) {
	u.ixMu.Lock()
	defer u.ixMu.Unlock()
	if ix := u.ixs[file]; ix != nil {
		return ix, nil
	}
	ix, err := index.Open(ctx, file, root)
	if err != nil {
		return nil, err
	}
	u.ixs[file] = ix
	return ix, nil
}

// Start indexes every library in the background and keeps it current
// until Close (or ctx's end).
func (u *UI) Start(ctx context.Context) {
	ctx, u.cancel = context.WithCancel(ctx)
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		// Both towers now: the first query must not pay for opening the
		// text tower's session.
		if err := u.model.Load(ctx); err != nil && ctx.Err() == nil {
			u.log.Warn("loading the model", "error", err.Error())
		}
	}()
	for _, l := range u.libs {
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			l.run(ctx)
		}()
	}
}

// Close stops the background work, waiting for an update in progress to
// commit what it has done, and closes the indexes. Safe to call twice.
func (u *UI) Close() error {
	if u.cancel != nil {
		u.cancel()
	}
	u.wg.Wait()
	if u.thumbs != nil {
		u.thumbs.Wait()
	}
	var errs []error
	u.ixMu.Lock()
	for file, ix := range u.ixs {
		errs = append(errs, ix.Close())
		delete(u.ixs, file)
	}
	u.ixMu.Unlock()
	for _, l := range u.libs {
		if l.root != nil {
			errs = append(errs, l.root.Close())
			l.root = nil
		}
	}
	return errors.Join(errs...)
}

// unitImages embeds images with m, as L2-normalised vectors: the ones an
// Embedder with normalising on (the default, as `index` runs) makes, by
// the same function.
type unitImages struct{ m *hybridembed.Model }

func (u unitImages) EmbedImagesFunc(ctx context.Context, images []hybridembed.Image, fn func(int, hybridembed.Embedding, error) error) error {
	return u.m.EmbedImagesFunc(ctx, images, func(i int, e hybridembed.Embedding, err error) error {
		if err == nil && !e.Normalized {
			pooling.Normalize(e.Vector)
			e.Normalized = true
		}
		return fn(i, e, err)
	})
}

// ThumbnailStats are the previews served from the disk cache and those
// made, since New.
func (u *UI) ThumbnailStats() (hits, misses int64) { return u.thumbs.Stats() }

// ThumbDir is where previews are kept.
func (u *UI) ThumbDir() string { return u.thumbs.Dir() }

// Statuses is each library's indexing state.
func (u *UI) Statuses() []Status {
	out := make([]Status, len(u.libs))
	for i, l := range u.libs {
		out[i] = l.Status()
	}
	return out
}

// resolved is path with its symbolic links followed, as far as it exists.
func resolved(path string) string {
	rest := ""
	for p := path; ; {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return path
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

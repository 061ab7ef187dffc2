package webui_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/internal/webui"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

// shapesEmbedder is an Embedder as serve makes it (offline, vectors not
// normalised: the server and the index normalise them).
func shapesEmbedder(t testing.TB) *hybridembed.Embedder {
	t.Helper()
	orttest.Init(t)
	emb, err := hybridembed.New(hybridembed.WithoutEnvironment(), hybridembed.WithHubCache(t.TempDir()),
		hybridembed.WithOffline(true), hybridembed.WithNormalize(false))
	require.NoError(t, err)
	t.Cleanup(func() { emb.Close() })
	return emb
}

// shapesModel is the trained demo model (testdata/models/shapes-clip).
func shapesModel(t testing.TB) *hybridembed.Model {
	t.Helper()
	m, err := shapesEmbedder(t).Model(context.Background(), fixtures.Fixture("models", "shapes-clip"))
	require.NoError(t, err)
	return m
}

// textModel is a model with no image tower (testdata/models/tiny-st).
func textModel(t testing.TB) *hybridembed.Model {
	t.Helper()
	orttest.Init(t)
	emb, err := hybridembed.New(hybridembed.WithoutEnvironment(), hybridembed.WithHubCache(t.TempDir()), hybridembed.WithOffline(true))
	require.NoError(t, err)
	t.Cleanup(func() { emb.Close() })
	m, err := emb.Model(context.Background(), fixtures.Fixture("models", "tiny-st"))
	require.NoError(t, err)
	return m
}

// shapesLibrary copies the 96 held-out shapes into a new folder (the
// index is made inside a library: never in testdata/).
func shapesLibrary(t testing.TB) string {
	t.Helper()
	src := fixtures.Fixture("shapes-heldout")
	dir := filepath.Join(t.TempDir(), "shapes")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); ext != ".png" && ext != ".jpg" {
			continue
		}
		copyFile(t, filepath.Join(src, e.Name()), filepath.Join(dir, e.Name()))
		n++
	}
	require.Equal(t, 96, n)
	return dir
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(to), 0o755))
	require.NoError(t, os.WriteFile(to, data, 0o644))
}

// page is a started UI behind a real HTTP server.
type page struct {
	ui  *webui.UI
	srv *httptest.Server
	cfg webui.Config
}

// startPage serves cfg (the shapes model and a preview folder of its own
// unless given), and waits until its libraries hold want photos.
func startPage(t testing.TB, cfg webui.Config, api http.Handler, want int) *page {
	t.Helper()
	if cfg.Model == nil {
		cfg.Model = shapesModel(t)
	}
	if cfg.ThumbDir == "" {
		cfg.ThumbDir = filepath.Join(t.TempDir(), "thumbs")
	}
	ui, err := webui.New(context.Background(), cfg)
	require.NoError(t, err)
	ui.Start(context.Background())
	t.Cleanup(func() { ui.Close() })
	srv := httptest.NewServer(ui.Handler(api))
	t.Cleanup(srv.Close)
	p := &page{ui: ui, srv: srv, cfg: cfg}
	p.waitPhotos(t, want)
	return p
}

// waitPhotos waits until the libraries are indexed and n photos are
// searchable.
func (p *page) waitPhotos(t testing.TB, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		photos := 0
		for _, s := range p.ui.Statuses() {
			if s.Busy() {
				return false
			}
			photos += s.Photos
		}
		return photos == n
	}, 60*time.Second, 20*time.Millisecond, "%d photos indexed: %+v", n, p.ui.Statuses())
}

// result is a search result as /ui/search returns it.
type result struct {
	ID       string  `json:"id"`
	Path     string  `json:"path"`
	Score    float64 `json:"score"`
	Thumb    string  `json:"thumb"`
	Preview  string  `json:"preview"`
	Original string  `json:"original"`
	Page     string  `json:"page"`
	Similar  string  `json:"similar"`
}

type results struct {
	Query   string   `json:"query"`
	Image   string   `json:"image"`
	Results []result `json:"results"`
	More    bool     `json:"more"`
	Next    string   `json:"next"`
	Error   string   `json:"error"`
}

// search asks /ui/search with the raw query string qs.
func (p *page) search(t testing.TB, qs string) (int, results) {
	t.Helper()
	resp, err := http.Get(p.srv.URL + "/ui/search?" + qs)
	require.NoError(t, err)
	defer resp.Body.Close()
	var r results
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(body, &r), string(body))
	return resp.StatusCode, r
}

// class is the "colour_shape" of a held-out file name ("012_blue_square.png").
func class(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if i := strings.IndexByte(base, '_'); i >= 0 {
		return base[i+1:]
	}
	return base
}

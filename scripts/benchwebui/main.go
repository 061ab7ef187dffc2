// Command benchwebui measures the photo-library search page (serve
// --library):
//
//   - a query's server time on a 100,000-image index (goal p50 <= 50 ms),
//     split into embedding the text and scanning the vectors, against the
//     same two steps called bare (Model.EmbedTexts, Matrix.Search) in the
//     same run;
//
//   - first results painted in headless Chromium, from Enter to the first
//     preview on screen, on the 96 held-out shapes (goal <= 300 ms), with
//     previews made cold and then served warm;
//
//   - preview sizes and the time to make one, on the shapes and on the
//     photo-like JPEGs scripts/bench writes (1024x768 and 12 MP);
//
//   - the preview cache's hit rate over a browsing session, cold and after
//     a restart.
//
//     go run ./scripts/benchwebui -model .bench/vit-b32 -work .bench
//
// The 100,000 photos are empty files with random vectors imported into
// their index (what is measured is the page over the index, not
// inference); they are kept in WORK for later runs.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/internal/index"
	"github.com/hybridembed/hybridembed/internal/library"
	"github.com/hybridembed/hybridembed/internal/thumb"
	"github.com/hybridembed/hybridembed/internal/webui"
	"github.com/hybridembed/hybridembed/internal/webui/webuitest"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/scripts/benchkit"
)

func main() {
	work := flag.String("work", ".bench", "where the generated libraries are kept")
	model := flag.String("model", ".bench/vit-b32", "model for the big index's queries (its vectors' size is the index's)")
	photos := flag.Int("photos", 100000, "images in the big index")
	queries := flag.Int("queries", 51, "distinct queries timed on the big index")
	shapesModel := flag.String("shapes-model", "testdata/models/shapes-clip", "model for the browser run over the held-out shapes")
	only := flag.String("only", "", "run one part: server, browser or previews")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()

	emb, err := hybridembed.New(hybridembed.WithOffline(true), hybridembed.WithKeepAlive(-1), hybridembed.WithQuietTexts(true)) // as serve --library
	if err != nil {
		log.Fatal(err)
	}
	defer emb.Close()
	fmt.Printf("search page: %d cores\n", runtime.NumCPU())
	parts := []struct {
		name string
		run  func() error
	}{
		{"server", func() error { return serverTime(ctx, emb, *work, *model, *photos, *queries) }},
		{"browser", func() error { return browser(ctx, emb, *work, *shapesModel) }},
		{"previews", func() error { return previews(ctx, *work) }},
	}
	for _, p := range parts {
		if *only != "" && *only != p.name {
			continue
		}
		if err := p.run(); err != nil {
			log.Fatalf("%s: %v", p.name, err)
		}
	}
}

// open loads a model and the page over libs.
func open(ctx context.Context, emb *hybridembed.Embedder, model string, libs []string, thumbs string) (*webui.UI, *hybridembed.Model, *httptest.Server, error) {
	m, err := emb.Model(ctx, model)
	if err != nil {
		return nil, nil, nil, err
	}
	if ok, err := m.Cached(); !ok {
		return nil, nil, nil, fmt.Errorf("%s: not on this machine (make bench generates it): %v", model, err)
	}
	ui, err := webui.New(ctx, webui.Config{Libraries: libs, Model: m, ThumbDir: thumbs})
	if err != nil {
		return nil, nil, nil, err
	}
	ui.Start(ctx)
	for {
		busy := false
		for _, s := range ui.Statuses() {
			if s.Error != "" {
				return nil, nil, nil, errors.New(s.Error)
			}
			busy = busy || s.Busy()
		}
		if !busy {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ui, m, httptest.NewServer(ui.Handler(nil)), nil
}

// bigLibrary makes n empty image files in 100 folders and imports random
// vectors for them into the library's own index, once.
func bigLibrary(ctx context.Context, m *hybridembed.Model, dir string, n int) error {
	im, err := index.ImageModel(ctx, m, "an index")
	if err != nil {
		return err
	}
	file, root, err := index.Locate([]string{dir}, "")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err == nil {
		if ix, err := index.Open(ctx, file, root); err == nil {
			mat, err := ix.Load(ctx, im, []string{dir})
			ix.Close()
			if err == nil && mat.Len() == n {
				return nil
			}
		}
	}
	log.Printf("writing a %d-image stand-in library in %s (kept for later runs)", n, dir)
	os.RemoveAll(dir)
	rows := make([]index.Imported, n)
	r := rand.New(rand.NewPCG(uint64(n), 5))
	vecs := benchkit.UnitVectors(r, n, im.Dim)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("%02d", i%100), fmt.Sprintf("IMG_%06d.jpg", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(p))
		rows[i] = index.Imported{Path: p, Size: st.Size(), Mtime: st.ModTime().UnixNano(), Hash: sum[:], Vector: vecs[i*im.Dim : (i+1)*im.Dim]}
	}
	file, root, err = index.Locate([]string{dir}, "")
	if err != nil {
		return err
	}
	ix, err := index.Open(ctx, file, root)
	if err != nil {
		return err
	}
	defer ix.Close()
	_, err = ix.Import(ctx, im, rows)
	return err
}

var words = []string{"red", "kite", "beach", "sunset", "dog", "bicycle", "mountain", "snow", "city", "night", "market",
	"child", "boat", "forest", "cat", "window", "rain", "bridge", "flower", "train"}

func serverTime(ctx context.Context, emb *hybridembed.Embedder, work, model string, n, queries int) error {
	m, err := emb.Model(ctx, model)
	if err != nil {
		return err
	}
	if ok, err := m.Cached(); !ok {
		fmt.Printf("  (skipped the %d-image index: %s is not on this machine (%v); make bench generates it)\n", n, model, err)
		return nil
	}
	lib := filepath.Join(work, fmt.Sprintf("page-library-%d", n))
	if err := bigLibrary(ctx, m, lib, n); err != nil {
		return err
	}
	start := time.Now()
	ui, m, srv, err := open(ctx, emb, model, []string{lib}, filepath.Join(work, "page-thumbs"))
	if err != nil {
		return err
	}
	defer ui.Close()
	defer srv.Close()
	fmt.Printf("  %d-image index: open, rescan (all unchanged) and load %.0f ms\n", n, benchkit.Ms(time.Since(start)))

	r := rand.New(rand.NewPCG(7, 7))
	text := func() string {
		return fmt.Sprintf("a photo of a %s %s by the %s", words[r.IntN(len(words))], words[r.IntN(len(words))], words[r.IntN(len(words))])
	}
	get := func(q string) (total, embed, scan float64, err error) {
		resp, err := http.Get(srv.URL + "/ui/search?q=" + url.QueryEscape(q))
		if err != nil {
			return 0, 0, 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, 0, 0, fmt.Errorf("%s: %s", q, resp.Status)
		}
		t := serverTiming(resp.Header.Get("Server-Timing"))
		return t["total"], t["embed"], t["scan"], nil
	}
	if _, _, _, err := get("warm up"); err != nil {
		return err
	}
	// Each query through the page, then the same two steps bare
	// (Model.EmbedTexts of another new text, Matrix.Search for one page) on
	// the same vectors, in turn, so that the ratio holds while the
	// machine's speed drifts.
	mat, err := loadMatrix(ctx, m, lib)
	if err != nil {
		return err
	}
	var totals, embeds, scans, cached, bareEmbed, bareScan, ratios []float64
	seen := map[string]bool{}
	for len(totals) < queries {
		q := text()
		if seen[q] || seen[q+" bare"] {
			continue
		}
		seen[q] = true
		total, embed, scan, err := get(q)
		if err != nil {
			return err
		}
		totals, embeds, scans = append(totals, total), append(embeds, embed), append(scans, scan)
		again, _, _, err := get(q) // a Back, or its next page: the ranking is remembered
		if err != nil {
			return err
		}
		cached = append(cached, again)
		t := time.Now()
		e, err := m.EmbedTexts(ctx, []string{q + " bare"})
		if err != nil {
			return err
		}
		be := benchkit.Ms(time.Since(t))
		t = time.Now()
		if _, err := mat.Search(e[0].Vector, webui.PageSize, -1); err != nil {
			return err
		}
		bs := benchkit.Ms(time.Since(t))
		bareEmbed, bareScan, ratios = append(bareEmbed, be), append(bareScan, bs), append(ratios, total/(be+bs))
	}
	sort.Float64s(totals)
	fmt.Printf("  query server time, %d-image index, %d-d: p50 %.1f ms, p99 %.1f ms (goal p50 <= 50 ms): embed p50 %.1f ms + scan p50 %.1f ms\n",
		n, mat.Dim, benchkit.Percentile(totals, 0.5), benchkit.Percentile(totals, 0.99), benchkit.Median(embeds), benchkit.Median(scans))
	fmt.Printf("    bare, in turn: EmbedTexts p50 %.1f ms + Matrix.Search p50 %.1f ms; page/bare ratio p50 %.2fx; the same query again (ranking remembered, as for its next pages) p50 %.1f ms\n",
		benchkit.Median(bareEmbed), benchkit.Median(bareScan), benchkit.Median(ratios), benchkit.Median(cached))
	return nil
}

func loadMatrix(ctx context.Context, m *hybridembed.Model, lib string) (*index.Matrix, error) {
	im, err := index.ImageModel(ctx, m, "an index")
	if err != nil {
		return nil, err
	}
	file, root, err := index.Locate([]string{lib}, "")
	if err != nil {
		return nil, err
	}
	ix, err := index.Open(ctx, file, root)
	if err != nil {
		return nil, err
	}
	defer ix.Close()
	return ix.Load(ctx, im, []string{lib})
}

var timingRe = regexp.MustCompile(`(\w+);dur=([0-9.]+)`)

func serverTiming(h string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range timingRe.FindAllStringSubmatch(h, -1) {
		out[m[1]], _ = strconv.ParseFloat(m[2], 64)
	}
	return out
}

// shapesLibrary copies the held-out shapes into work once.
func shapesLibrary(work string) (string, error) {
	dir := filepath.Join(work, "page-shapes")
	src := fixtures.Fixture("shapes-heldout")
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if !library.IsImageName(e.Name()) {
			continue
		}
		to := filepath.Join(dir, e.Name())
		if _, err := os.Stat(to); err == nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(to, data, 0o644); err != nil {
			return "", err
		}
	}
	return dir, nil
}

var captions = []string{"a red circle", "a blue square", "a green triangle", "a yellow star",
	"a purple circle", "an orange square", "a green star", "a blue triangle"}

// browser times Enter to the first preview painted, in headless Chromium,
// and the preview cache's hits over two sessions (the second after a
// restart, in a new browser profile: only the disk cache carries over).
func browser(ctx context.Context, emb *hybridembed.Embedder, work, model string) error {
	exe, err := fixtures.LookChromium()
	if err != nil {
		fmt.Printf("  (skipped the browser: %v)\n", err)
		return nil
	}
	lib, err := shapesLibrary(work)
	if err != nil {
		return err
	}
	thumbs, err := os.MkdirTemp(work, "page-thumbs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(thumbs)
	for _, label := range []string{"cold previews", "after a restart"} {
		ui, _, srv, err := open(ctx, emb, model, []string{lib}, thumbs)
		if err != nil {
			return err
		}
		profile, err := os.MkdirTemp("", "benchwebui-profile-")
		if err != nil {
			return err
		}
		paints, shown, err := browse(ctx, exe, profile, srv.URL)
		os.RemoveAll(profile)
		srv.Close()
		hits, misses := ui.ThumbnailStats()
		ui.Close()
		if err != nil {
			return err
		}
		each := fmt.Sprint(paints)
		sort.Float64s(paints)
		fmt.Printf("  first results painted after Enter, 96 shapes, %s: p50 %.0f ms, max %.0f ms over %d queries (goal <= 300 ms); in order %s\n",
			label, benchkit.Percentile(paints, 0.5), paints[len(paints)-1], len(paints), each)
		fmt.Printf("    preview cache: %d requests reached the server for %d shown, %d from disk, %d made: hit rate %.0f%%\n",
			hits+misses, shown, hits, misses, 100*float64(hits)/float64(max(1, hits+misses)))
	}
	return nil
}

// browse runs a session: each caption typed and entered on a fresh page,
// "similar" on its first result, and a scroll to the end.
func browse(ctx context.Context, exe, profile, base string) (paints []float64, shown int, err error) {
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, webuitest.Options(exe, profile, 1280, 800)...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(bctx); err != nil {
		return nil, 0, err
	}
	tctx, cancelT := context.WithTimeout(bctx, 5*time.Minute)
	defer cancelT()
	wait := func(js string) error {
		_, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(30*time.Second)))
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", js, err)
		}
		return nil
	}
	count := func() int {
		n, _ := chromedp.Run(tctx, chromedp.Evaluate[int](`document.querySelectorAll('#results img').length`))
		return n
	}
	for _, c := range captions {
		if err := chromedp.Do(tctx, chromedp.Navigate(base+"/"), chromedp.Focus(chromedp.ID("q")), chromedp.SendKeys(chromedp.ID("q"), c),
			chromedp.KeyEvent(kb.Enter)); err != nil {
			return nil, 0, err
		}
		if err := wait(`window.hybridembed.timing.painted > 0`); err != nil {
			return nil, 0, fmt.Errorf("%q: %w", c, err)
		}
		d, err := chromedp.Run(tctx, chromedp.Evaluate[float64](`window.hybridembed.timing.painted - window.hybridembed.timing.submit`))
		if err != nil {
			return nil, 0, err
		}
		paints = append(paints, math.Round(d))
		shown += count()
		if err := chromedp.Do(tctx, chromedp.Click(chromedp.CSS(`#results a.hit`)), chromedp.Click(chromedp.ID(`viewer-similar`))); err != nil {
			return nil, 0, err
		}
		if err := wait(`location.search.startsWith('?like=') && window.hybridembed.timing.painted > 0`); err != nil {
			return nil, 0, err
		}
		shown += count()
	}
	if err := chromedp.Do(tctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.body.scrollHeight)`)); err != nil {
		return nil, 0, err
	}
	if err := wait(`document.querySelectorAll('#results a.hit').length === 96`); err != nil {
		return nil, 0, err
	}
	if err := wait(`Array.from(document.images).every(i => i.complete)`); err != nil {
		return nil, 0, err
	}
	return paints, shown + 96 - webui.PageSize, nil // the scroll showed the second page
}

// previews measures making previews: their size and time, cold and cached.
func previews(ctx context.Context, work string) error {
	shapes, err := shapesLibrary(work)
	if err != nil {
		return err
	}
	// The photo-like JPEGs scripts/bench measures throughput on (written
	// here when it has not run).
	photos := []struct {
		name string
		w, h int
	}{{"jpeg-1024x768", 1024, 768}, {"jpeg-12mp", 4000, 3000}}
	folders := []string{shapes}
	for _, p := range photos {
		dir := filepath.Join(work, p.name)
		if err := benchkit.MakeFolder(dir, p.w, p.h, 16); err != nil {
			return err
		}
		folders = append(folders, dir)
	}
	for _, folder := range folders {
		files, _ := filepath.Glob(filepath.Join(folder, "*.jpg"))
		files = files[:min(len(files), 16)]
		dir, err := os.MkdirTemp(work, "previews-")
		if err != nil {
			return err
		}
		c := thumb.NewCache(dir, 1, imageprep.Limits{})
		for _, size := range []int{webui.SmallSize, webui.LargeSize} {
			var bytes int
			var cold, warm []float64
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				sum := sha256.Sum256(data)
				hash := fmt.Sprintf("%x", sum)
				t := time.Now()
				got, err := c.Get(ctx, hash, size, func() ([]byte, error) { return os.ReadFile(f) })
				if err != nil {
					return err
				}
				cold = append(cold, benchkit.Ms(time.Since(t)))
				bytes += len(got.Data)
				c.Wait() // on disk: the next Get reads the file
				t = time.Now()
				if _, err := c.Get(ctx, hash, size, func() ([]byte, error) { return os.ReadFile(f) }); err != nil {
					return err
				}
				warm = append(warm, benchkit.Ms(time.Since(t)))
			}
			jpeg, _ := imageprep.JPEGDecoder()
			fmt.Printf("  previews %4d px of %-18s %6.1f KB each; made in p50 %6.1f ms (JPEG decoder: %s), from the cache p50 %.2f ms\n",
				size, filepath.Base(folder)+":", float64(bytes)/float64(len(files))/1024, benchkit.Median(cold), jpeg, benchkit.Median(warm))
		}
		os.RemoveAll(dir)
	}
	return nil
}

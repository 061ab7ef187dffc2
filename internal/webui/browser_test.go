package webui_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/internal/webui"
	"github.com/hybridembed/hybridembed/internal/webui/webuitest"
)

// EnvArtifacts is where the browser tests keep their screenshots (default:
// $TMPDIR/hybridembed-artifacts/webui); EnvUpdateScreenshots=1 also
// rewrites the README's screenshots under docs/.
const (
	EnvArtifacts         = "HYBRIDEMBED_TEST_ARTIFACTS"
	EnvUpdateScreenshots = "HYBRIDEMBED_UPDATE_SCREENSHOTS"
)

// browser is headless Chromium, started once per test.
type browser struct {
	ctx       context.Context
	server    *url.URL
	artifacts string
}

func newBrowser(t *testing.T, server string) *browser {
	t.Helper()
	exe := fixtures.Chromium(t)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), webuitest.Options(exe, t.TempDir(), 1280, 800)...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	require.NoError(t, chromedp.Do(ctx), "starting %s", exe)
	u, err := url.Parse(server)
	require.NoError(t, err)
	dir := os.Getenv(EnvArtifacts)
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "hybridembed-artifacts", "webui")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("screenshots in %s", dir)
	return &browser{ctx: ctx, server: u, artifacts: dir}
}

// tab is one page of the browser, with every request it made and every
// error it logged.
type tab struct {
	t   *testing.T
	ctx context.Context
	b   *browser

	mu         sync.Mutex
	requests   []string
	problems   []string // script exceptions and CSP violations
	allowOther bool
}

func (b *browser) tab(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	tb := &tab{t: t, ctx: ctx, b: b}
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			tb.requests = append(tb.requests, e.Request.URL)
		case *runtime.EventExceptionThrown:
			tb.problems = append(tb.problems, "exception: "+(&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error())
		case *log.EventEntryAdded:
			if strings.Contains(e.Entry.Text, "Content Security Policy") || strings.Contains(e.Entry.Text, "Content-Security-Policy") {
				tb.problems = append(tb.problems, "CSP: "+e.Entry.Text)
			}
		}
	}))
	t.Cleanup(func() {
		tb.checkRequests()
		cancelTimeout()
		cancel()
	})
	return tb
}

// foreign lists the requests that went anywhere but the server under test.
func (tb *tab) foreign() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []string
	for _, raw := range tb.requests {
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			out = append(out, raw)
		case u.Scheme == "blob" && strings.HasPrefix(u.Opaque, tb.b.server.Scheme+"://"+tb.b.server.Host+"/"):
		case (u.Scheme == "http" || u.Scheme == "https") && u.Host == tb.b.server.Host:
		default:
			out = append(out, raw)
		}
	}
	return out
}

// checkRequests: no request left the server, and the page logged no
// script error and no Content-Security-Policy violation.
func (tb *tab) checkRequests() {
	if tb.allowOther {
		return
	}
	assert.Empty(tb.t, tb.foreign(), "requests to anything but the server")
	tb.mu.Lock()
	defer tb.mu.Unlock()
	assert.NotEmpty(tb.t, tb.requests, "the request log saw the page's own requests")
	assert.Empty(tb.t, tb.problems)
}

func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	require.NoError(tb.t, chromedp.Do(tb.ctx, steps...))
}

func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	require.NoError(tb.t, err, js)
	return v
}

// wait waits until the expression is truthy.
func (tb *tab) wait(js string) {
	tb.t.Helper()
	_, err := chromedp.Run(tb.ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(tb.t, err, "waiting for %s", js)
}

// waitFocus waits until the focus is on the result whose alt is alt.
func (tb *tab) waitFocus(alt string) {
	tb.t.Helper()
	tb.wait(fmt.Sprintf(`document.activeElement.matches('a.hit') && document.activeElement.querySelector('img').alt === %q`, alt))
}

func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.b.server.String() + path))
}

// firstAlts is the alt text of the first n results.
func (tb *tab) firstAlts(n int) []string {
	tb.t.Helper()
	return eval[[]string](tb, fmt.Sprintf(`Array.from(document.querySelectorAll('#results a.hit img')).slice(0, %d).map(i => i.alt)`, n))
}

// previewsShown waits until the first results' previews have loaded.
const previewsShown = `(() => { const im = Array.from(document.querySelectorAll('#results a.hit img')).slice(0, 6);
	return im.length > 0 && im.every(i => i.complete && i.naturalWidth > 0) })()`

func (tb *tab) screenshot(name string) []byte {
	tb.t.Helper()
	png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	require.NoError(tb.t, err)
	require.NoError(tb.t, os.WriteFile(filepath.Join(tb.b.artifacts, name), png, 0o644))
	return png
}

// TestBrowser drives the page in headless Chromium over the demo model
// and the 96 held-out shapes.
func TestBrowser(t *testing.T) {
	p := startPage(t, webui.Config{Libraries: []string{shapesLibrary(t)}}, nil, 96)
	b := newBrowser(t, p.srv.URL)

	t.Run("the request log sees requests elsewhere", func(t *testing.T) {
		// The check below every test is only worth something if it sees a
		// request that leaves: here, from a page without the CSP.
		tb := b.tab(t)
		tb.allowOther = true
		tb.do(chromedp.Navigate("about:blank"))
		eval[any](tb, `fetch('http://192.0.2.1:9/x').catch(() => null)`)
		tb.wait(`true`)
		require.Eventually(t, func() bool { return len(tb.foreign()) > 0 }, 5*time.Second, 10*time.Millisecond)
	})

	t.Run("shared links rank the shape first", func(t *testing.T) {
		tb := b.tab(t)
		for caption, want := range captions {
			tb.open("/?q=" + url.QueryEscape(caption))
			tb.wait(previewsShown)
			alts := tb.firstAlts(3)
			require.NotEmpty(t, alts)
			assert.Equal(t, want, class(alts[0]), "%q: %v", caption, alts)
			assert.Equal(t, caption, eval[string](tb, `document.getElementById('q').value`))
		}
	})

	t.Run("keyboard", func(t *testing.T) {
		tb := b.tab(t)
		tb.open("/")
		tb.do(press("/"))
		assert.Equal(t, "q", eval[string](tb, `document.activeElement.id`), "/ goes to the search box")
		tb.do(chromedp.KeyEvent("a blue square"), chromedp.KeyEvent(kb.Enter))
		tb.wait(`location.search === '?q=a+blue+square' && document.querySelectorAll('#results a.hit').length > 0`)
		tb.wait(previewsShown)
		assert.Equal(t, "blue_square", class(tb.firstAlts(1)[0]))
		// Key events reach the page's handlers a moment after CDP returns:
		// each step waits for what the key did.
		alts := tb.firstAlts(3)
		tb.do(chromedp.KeyEvent(kb.ArrowDown))
		tb.waitFocus(alts[0])
		tb.do(chromedp.KeyEvent(kb.ArrowRight))
		tb.waitFocus(alts[1]) // arrows move between results
		second := alts[1]
		tb.do(chromedp.KeyEvent(kb.Enter))
		tb.wait(`document.getElementById('viewer').open`)
		assert.Equal(t, second, eval[string](tb, `document.getElementById('viewer-title').textContent`))
		tb.wait(`document.getElementById('viewer-img').complete && document.getElementById('viewer-img').naturalWidth > 0`)
		assert.Contains(t, eval[string](tb, `document.getElementById('viewer-meta').textContent`), "score 0.")
		third := alts[2]
		tb.do(chromedp.KeyEvent(kb.ArrowRight))
		tb.wait(fmt.Sprintf(`document.getElementById('viewer-title').textContent === %q`, third))
		tb.do(chromedp.KeyEvent(kb.Escape))
		tb.wait(`!document.getElementById('viewer').open`)
		tb.waitFocus(third) // focus goes back to the photo
		tb.do(chromedp.KeyEvent(kb.Enter))
		tb.wait(`document.getElementById('viewer').open`)
		tb.do(press("s"))
		tb.wait(`location.search.startsWith('?like=') && !document.getElementById('viewer').open`)
		tb.wait(previewsShown)
		assert.Equal(t, third, tb.firstAlts(1)[0], "similar: the photo itself first")
		assert.False(t, eval[bool](tb, `document.getElementById('chip').hidden`))
		// Back goes to the text query.
		tb.do(chromedp.NavigateBack())
		tb.wait(`location.search === '?q=a+blue+square'`)
		tb.wait(`document.getElementById('chip').hidden && document.querySelectorAll('#results a.hit').length > 0`)

		// Every control has a name a screen reader says.
		unnamed := eval[[]string](tb, `Array.from(document.querySelectorAll('input, button, a, img, progress')).filter(e => {
			if (e.tagName === 'IMG') return !e.hasAttribute('alt');
			if (e.type === 'hidden') return false;
			if (e.tagName === 'INPUT' || e.tagName === 'PROGRESS') return e.labels.length === 0 && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby');
			return !(e.textContent.trim() || e.getAttribute('aria-label') || e.querySelector('img[alt]:not([alt=""])'));
		}).map(e => e.outerHTML.slice(0, 80))`)
		assert.Empty(t, unnamed)
	})

	t.Run("similar from a result", func(t *testing.T) {
		tb := b.tab(t)
		tb.open("/?q=" + url.QueryEscape("a green triangle"))
		tb.wait(previewsShown)
		first := tb.firstAlts(1)[0]
		tb.do(chromedp.Click(chromedp.CSS(`#results a.hit`)))
		tb.wait(`document.getElementById('viewer').open`)
		tb.do(chromedp.Click(chromedp.ID(`viewer-similar`)))
		tb.wait(`location.search.startsWith('?like=')`)
		tb.wait(previewsShown)
		alts := tb.firstAlts(4)
		assert.Equal(t, first, alts[0])
		assert.Equal(t, "green_triangle", class(alts[1]), "%v", alts)
		assert.Contains(t, eval[string](tb, `document.getElementById('chip-text').textContent`), first)
	})

	t.Run("an image dropped, pasted or picked", func(t *testing.T) {
		tb := b.tab(t)
		for _, how := range []string{"drop", "paste"} {
			for name, want := range map[string]string{"yellow_star.jpg": "yellow_star", "blue_square.png": "blue_square"} {
				data, err := os.ReadFile(fixtures.Fixture("images", name))
				require.NoError(t, err)
				tb.open("/")
				// The file comes from the test, not from a URL: the page
				// sees what a drop from the desktop or a paste gives it.
				eval[any](tb, fmt.Sprintf(`(() => {
					const bytes = Uint8Array.from(atob(%q), c => c.charCodeAt(0));
					const dt = new DataTransfer();
					dt.items.add(new File([bytes], %q, { type: %q }));
					if (%q === 'paste') {
						document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true }));
					} else {
						for (const type of ['dragenter', 'dragover', 'drop'])
							document.body.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
					}
					return null;
				})()`, base64.StdEncoding.EncodeToString(data), name, mimeOf(name), how))
				tb.wait(`!document.getElementById('chip').hidden && document.querySelectorAll('#results a.hit').length > 0`)
				tb.wait(previewsShown)
				assert.Equal(t, want, class(tb.firstAlts(1)[0]), "%s %s", how, name)
				assert.True(t, eval[bool](tb, `document.getElementById('chip-img').src.startsWith('blob:')`))
				assert.True(t, eval[bool](tb, `document.getElementById('drop').hidden`))
			}
		}
		// More results on scroll, the image named by its hash.
		tb.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.body.scrollHeight)`))
		tb.wait(`document.querySelectorAll('#results a.hit').length === 96`)
		// The picker: a real file input.
		tb.open("/")
		tb.do(chromedp.SetUploadFiles(chromedp.ID(`file`), []string{fixtures.Fixture("images", "green_triangle.jpg")}))
		tb.wait(`!document.getElementById('chip').hidden && document.querySelectorAll('#results a.hit').length > 0`)
		assert.Equal(t, "green_triangle", class(tb.firstAlts(1)[0]))
	})

	t.Run("more on scroll", func(t *testing.T) {
		tb := b.tab(t)
		tb.open("/?q=" + url.QueryEscape("a red circle"))
		tb.wait(previewsShown)
		assert.Len(t, tb.firstAlts(200), webui.PageSize)
		tb.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.body.scrollHeight)`))
		tb.wait(`document.querySelectorAll('#results a.hit').length === 96 && document.getElementById('more').hidden`)
		alts := tb.firstAlts(200)
		seen := map[string]bool{}
		for _, a := range alts {
			assert.False(t, seen[a], a)
			seen[a] = true
		}
	})

	t.Run("screenshots, desktop and phone", func(t *testing.T) {
		tb := b.tab(t)
		tb.do(chromedp.EmulateViewport(1280, 800))
		tb.open("/?q=" + url.QueryEscape("a red circle"))
		tb.wait(previewsShown)
		desktop := tb.screenshot("desktop-results.png")
		tb.do(chromedp.Click(chromedp.CSS(`#results a.hit`)))
		tb.wait(`document.getElementById('viewer').open && document.getElementById('viewer-img').complete`)
		tb.screenshot("desktop-viewer.png")

		tb.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait))
		tb.open("/?q=" + url.QueryEscape("a yellow star"))
		tb.wait(previewsShown)
		assert.LessOrEqual(t, eval[int](tb, `document.documentElement.scrollWidth`), 390, "nothing wider than a phone")
		cols := eval[int](tb, `(() => { const l = Array.from(document.querySelectorAll('#results a.hit'));
			const i = l.findIndex(a => a.offsetTop !== l[0].offsetTop); return i < 0 ? l.length : i })()`)
		assert.GreaterOrEqual(t, cols, 2)
		assert.LessOrEqual(t, cols, 4)
		phone := tb.screenshot("phone-results.png")
		tb.do(chromedp.Click(chromedp.CSS(`#results a.hit`)))
		tb.wait(`document.getElementById('viewer').open && document.getElementById('viewer-img').complete`)
		assert.LessOrEqual(t, eval[int](tb, `Math.round(document.getElementById('viewer').getBoundingClientRect().width)`), 390)
		tb.screenshot("phone-viewer.png")

		if os.Getenv(EnvUpdateScreenshots) == "1" {
			docs := filepath.Join(fixtures.Root(), "docs")
			require.NoError(t, os.MkdirAll(docs, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(docs, "webui-desktop.png"), smallPNG(desktop), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(docs, "webui-phone.png"), smallPNG(phone), 0o644))
		}
	})
}

// press types a character key as a person does: one keydown that carries
// its text, so the page's preventDefault keeps the character out of
// wherever the focus goes (chromedp.KeyEvent sends the character as an
// event of its own, which a handler cannot stop).
func press(key string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		k := kb.Keys[[]rune(key)[0]]
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: k.Key, Code: k.Code, Text: k.Text,
			UnmodifiedText: k.Unmodified, WindowsVirtualKeyCode: k.Windows, NativeVirtualKeyCode: k.Native}
		if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		up := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Key: k.Key, Code: k.Code,
			WindowsVirtualKeyCode: k.Windows, NativeVirtualKeyCode: k.Native}
		_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, up)
		return err
	})
}

// smallPNG turns a screenshot into a palette PNG of its 256 most common
// colours (the page is mostly flat colour), a third of the size, for the
// README.
func smallPNG(data []byte) []byte {
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return data
	}
	b := img.Bounds()
	key := func(c color.Color) uint32 {
		r, g, bl, _ := c.RGBA()
		return (r>>11)<<10 | (g>>11)<<5 | bl>>11
	}
	type bin struct{ n, r, g, b int }
	bins := map[uint32]*bin{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := img.At(x, y)
			r, g, bl, _ := c.RGBA()
			k := key(c)
			e := bins[k]
			if e == nil {
				e = &bin{}
				bins[k] = e
			}
			e.n++
			e.r += int(r >> 8)
			e.g += int(g >> 8)
			e.b += int(bl >> 8)
		}
	}
	keys := make([]uint32, 0, len(bins))
	for k := range bins {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return bins[keys[i]].n > bins[keys[j]].n })
	keys = keys[:min(256, len(keys))]
	pal := make(color.Palette, len(keys))
	for i, k := range keys {
		e := bins[k]
		pal[i] = color.RGBA{uint8(e.r / e.n), uint8(e.g / e.n), uint8(e.b / e.n), 255}
	}
	out := image.NewPaletted(b, pal)
	cache := map[uint32]uint8{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := img.At(x, y)
			k := key(c)
			i, ok := cache[k]
			if !ok {
				i = uint8(pal.Index(c))
				cache[k] = i
			}
			out.SetColorIndex(x, y, i)
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, out); err != nil {
		return data
	}
	return buf.Bytes()
}

func mimeOf(name string) string {
	if strings.HasSuffix(name, ".png") {
		return "image/png"
	}
	return "image/jpeg"
}

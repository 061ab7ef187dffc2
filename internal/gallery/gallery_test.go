package gallery_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/internal/gallery"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

var limits = imageprep.Limits{MaxPixels: imageprep.DefaultMaxPixels}

// photo writes a w x h PNG of one colour at dir/name and returns its path.
func photo(t *testing.T, dir, name string, w, h int, c color.RGBA) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 255
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	path := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	return path
}

func render(t *testing.T, title string, sections []gallery.Section) (string, *html.Node) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, gallery.Write(&buf, title, sections, limits))
	doc, err := html.Parse(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	return buf.String(), doc
}

func hasClass(n *html.Node, class string) bool {
	return n.Type == html.ElementNode && strings.Contains(" "+attr(n, "class")+" ", " "+class+" ")
}

// all returns the elements under n that match.
func all(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && match(d) {
			out = append(out, d)
		}
	}
	return out
}

func tag(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == name }
}

func class(name string) func(*html.Node) bool {
	return func(n *html.Node) bool { return hasClass(n, name) }
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.TrimSpace(b.String())
}

func style(t *testing.T, doc *html.Node) string {
	t.Helper()
	styles := all(doc, tag("style"))
	require.Len(t, styles, 1)
	return text(styles[0])
}

// TestGridFillsTheWidth: the results are a CSS grid that makes as many
// columns as the page is wide and stretches them over the whole width
// (auto-fill with minmax(..., 1fr)), on a page scaled for phones.
func TestGridFillsTheWidth(t *testing.T) {
	dir := t.TempDir()
	_, doc := render(t, "t", []gallery.Section{{Query: "q", Results: []gallery.Result{
		{Path: "a.png", File: photo(t, dir, "a.png", 8, 8, color.RGBA{R: 200})},
	}}})
	css := style(t, doc)
	assert.Regexp(t, `\.grid \{[^}]*display: grid;`, css)
	assert.Regexp(t, `\.grid \{[^}]*grid-template-columns: repeat\(auto-fill, minmax\(.+, 1fr\)\)`, css)
	assert.NotContains(t, css, "max-width: 1", "no fixed page width")
	viewport := all(doc, func(n *html.Node) bool { return n.Data == "meta" && attr(n, "name") == "viewport" })
	require.Len(t, viewport, 1)
	assert.Contains(t, attr(viewport[0], "content"), "width=device-width")
	grids := all(doc, class("grid"))
	require.Len(t, grids, 1)
	assert.Len(t, all(grids[0], tag("figure")), 1)
}

// TestNamesWrapAtSeparators: a shown path gets a <wbr> after each /, \, _,
// - and ., and nowhere else; its text is unchanged, and the CSS lets a part
// too long for its tile break rather than spill out.
func TestNamesWrapAtSeparators(t *testing.T) {
	dir := t.TempDir()
	file := photo(t, dir, "x.png", 8, 8, color.RGBA{G: 200})
	for _, tc := range []struct{ path, want string }{ // want: the text, | for each <wbr>
		{"2024/06_holiday-beach_photo.jpg", "2024/|06_|holiday-|beach_|photo.|jpg"},
		{"IMG0001", "IMG0001"},
		{"photos/trip/", "photos/|trip/"},
		{`C:\Photos\a.jpg`, `C:\|Photos\|a.|jpg`},
		{"été/straße-ß.jpg", "été/|straße-|ß.|jpg"},
		{"a b/c", "a b/|c"},
		{"<script>.png", "<script>.|png"},
		{"..", ".|."},
	} {
		t.Run(tc.path, func(t *testing.T) {
			raw, doc := render(t, "t", []gallery.Section{{Query: "q", Results: []gallery.Result{{Path: tc.path, File: file}}}})
			paths := all(doc, class("path"))
			require.Len(t, paths, 1)
			var got strings.Builder
			for c := paths[0].FirstChild; c != nil; c = c.NextSibling {
				switch {
				case c.Type == html.TextNode:
					got.WriteString(c.Data)
				case c.Type == html.ElementNode && c.Data == "wbr" && c.FirstChild == nil:
					got.WriteString("|")
				default:
					t.Fatalf("unexpected %v node %q in the path", c.Type, c.Data)
				}
			}
			assert.Equal(t, tc.want, got.String())
			assert.Equal(t, tc.path, text(paths[0]), "the text is the path")
			assert.NotContains(t, raw, "<script>.", "escaped before the <wbr> go in")
		})
	}
	_, doc := render(t, "t", nil)
	css := style(t, doc)
	assert.Regexp(t, `\.path \{[^}]*overflow-wrap: anywhere`, css)
	assert.NotContains(t, css, "break-all", "breaking every name mid-word hides the separators")
}

// TestScoresAreLabelled: each result shows its rank and "score N" (four
// decimals, negative ones too), and the page says what a score is.
func TestScoresAreLabelled(t *testing.T) {
	dir := t.TempDir()
	file := photo(t, dir, "x.png", 8, 8, color.RGBA{B: 200})
	_, doc := render(t, "t", []gallery.Section{{Query: "q", Results: []gallery.Result{
		{Path: "a.png", File: file, Score: 1},
		{Path: "b.png", File: file, Score: 0.31},
		{Path: "c.png", File: file, Score: -0.06414},
	}}})
	var scores, ranks []string
	for _, n := range all(doc, class("score")) {
		scores = append(scores, text(n))
		assert.Contains(t, attr(n, "title"), "cosine similarity")
	}
	for _, n := range all(doc, class("rank")) {
		ranks = append(ranks, text(n))
	}
	assert.Equal(t, []string{"score 1.0000", "score 0.3100", "score -0.0641"}, scores)
	assert.Equal(t, []string{"#1", "#2", "#3"}, ranks)
	legend := all(doc, class("legend"))
	require.Len(t, legend, 1)
	assert.Contains(t, text(legend[0]), "cosine similarity")
}

// TestHostileNamesAreText: markup in the title, a query, a shown path or a
// file's own name is shown as text: no element, attribute or script of its
// own gets into the page, and links still lead to the file.
func TestHostileNamesAreText(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("< > \" are not allowed in Windows file names")
	}
	dir := t.TempDir()
	evilFile := photo(t, dir, `<img src=x onerror=alert(1)>".png`, 8, 8, color.RGBA{R: 90, G: 90})
	title := `<script>alert("title")</script>`
	query := `</h2><script>alert(2)</script><h2>`
	shown := `<script>alert(3)</script>.png`
	raw, doc := render(t, title, []gallery.Section{{Query: query, Results: []gallery.Result{
		{Path: shown, File: evilFile},
		{Path: `" onmouseover="alert(4)`, File: evilFile},
	}}})

	assert.NotContains(t, raw, "<script")
	assert.NotContains(t, raw, "<img src=x")
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		assert.NotEqual(t, "script", n.Data)
		for _, a := range n.Attr {
			assert.False(t, strings.HasPrefix(a.Key, "on"), "%s has %s=%q", n.Data, a.Key, a.Val)
		}
	}
	assert.Equal(t, title, text(all(doc, tag("h1"))[0]))
	h2 := all(doc, tag("h2"))
	require.Len(t, h2, 1)
	assert.Equal(t, query, text(h2[0]))
	paths := all(doc, class("path"))
	require.Len(t, paths, 2)
	assert.Equal(t, shown, text(paths[0]))
	assert.Equal(t, `" onmouseover="alert(4)`, text(paths[1]))

	imgs := all(doc, tag("img"))
	require.Len(t, imgs, 2)
	assert.Equal(t, shown, attr(imgs[0], "alt"))
	links := all(doc, tag("a"))
	require.Len(t, links, 2)
	u, err := url.Parse(attr(links[0], "href"))
	require.NoError(t, err)
	assert.Equal(t, "file", u.Scheme)
	abs, err := filepath.Abs(evilFile)
	require.NoError(t, err)
	assert.Equal(t, filepath.ToSlash(abs), u.Path, "the link names the file, escaped")
}

// TestSelfContained: nothing on the page is fetched or run: thumbnails are
// JPEG data URIs no larger than Thumb, there are no scripts, style sheets
// or remote addresses, and a file shown twice is decoded once.
func TestSelfContained(t *testing.T) {
	dir := t.TempDir()
	big := photo(t, dir, "big.png", 1000, 400, color.RGBA{R: 200, G: 30, B: 30})
	small := photo(t, dir, "small.png", 40, 30, color.RGBA{R: 30, G: 30, B: 200})
	raw, doc := render(t, "t", []gallery.Section{
		{Query: "one", Results: []gallery.Result{{Path: "big.png", File: big}, {Path: "small.png", File: small}}},
		{Query: "two", Results: []gallery.Result{{Path: "big.png", File: big}}},
	})
	for _, bad := range []string{"<script", "<link", "<iframe", "@import", "url(", "http://", "https://", "//cdn"} {
		assert.NotContains(t, raw, bad)
	}
	imgs := all(doc, tag("img"))
	require.Len(t, imgs, 3)
	sizes := map[string]image.Point{}
	for _, n := range imgs {
		src := attr(n, "src")
		data, ok := strings.CutPrefix(src, "data:image/jpeg;base64,")
		require.True(t, ok, "%.40s", src)
		b, err := base64.StdEncoding.DecodeString(data)
		require.NoError(t, err)
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
		require.NoError(t, err)
		sizes[attr(n, "alt")] = image.Pt(cfg.Width, cfg.Height)
	}
	assert.Equal(t, image.Pt(gallery.Thumb, 102), sizes["big.png"], "longest side Thumb, aspect kept")
	assert.Equal(t, image.Pt(40, 30), sizes["small.png"], "not enlarged")
	assert.Equal(t, attr(imgs[0], "src"), attr(imgs[2], "src"))
}

// TestUnreadableImages: a file that is gone or is not an image gets its
// error in place of the thumbnail, with its score and path; the rest of
// the page is written; a query with no results says so.
func TestUnreadableImages(t *testing.T) {
	dir := t.TempDir()
	good := photo(t, dir, "good.png", 16, 16, color.RGBA{G: 200})
	notImage := filepath.Join(dir, "notes.png")
	require.NoError(t, os.WriteFile(notImage, []byte("not an image\n"), 0o644))
	gone := filepath.Join(dir, "gone.jpg")
	_, doc := render(t, "t", []gallery.Section{
		{Query: "q", Results: []gallery.Result{
			{Path: "gone.jpg", File: gone, Score: 0.5},
			{Path: "notes.png", File: notImage, Score: 0.4},
			{Path: "good.png", File: good, Score: 0.3},
		}},
		{Query: "nothing"},
	})
	figs := all(doc, tag("figure"))
	require.Len(t, figs, 3)
	for i, want := range []string{"gone.jpg", "not a supported image"} {
		missing := all(figs[i], class("missing"))
		require.Len(t, missing, 1, "figure %d", i)
		assert.Contains(t, text(missing[0]), want)
		assert.Empty(t, all(figs[i], tag("img")))
		assert.Len(t, all(figs[i], class("score")), 1)
	}
	assert.Len(t, all(figs[2], tag("img")), 1)
	sections := all(doc, tag("section"))
	require.Len(t, sections, 2)
	assert.Contains(t, text(sections[1]), "No results.")
	assert.Empty(t, all(sections[1], class("grid")))
}

// measure is run by the test's own wrapper page, never by the gallery: it
// lays the gallery out in frames of the given widths and reports, per
// frame, the grid's columns and edges, horizontal overflow, and for each
// shown path how many line boxes each of its parts (the text between two
// <wbr>) takes.
const measure = `addEventListener('load', () => {
  const out = {};
  for (const f of document.querySelectorAll('iframe')) {
    const d = f.contentDocument;
    const grid = d.querySelector('.grid').getBoundingClientRect();
    const figs = [...d.querySelectorAll('.grid figure')];
    const boxes = figs.map(e => e.getBoundingClientRect());
    out[f.id] = {
      width: f.contentWindow.innerWidth,
      scrollWidth: d.documentElement.scrollWidth,
      gridLeft: grid.left, gridRight: grid.right,
      columns: new Set(boxes.map(r => Math.round(r.left))).size,
      right: Math.max(...boxes.map(r => r.right)),
      spills: figs.filter(e => e.scrollWidth > e.clientWidth).length,
      parts: [...d.querySelectorAll('.path')].map(p => [...p.childNodes].filter(n => n.nodeType === 3).map(n => {
        const r = d.createRange(); r.selectNodeContents(n);
        return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size;
      })),
      lines: [...d.querySelectorAll('.path')].map(p => {
        const r = d.createRange(); r.selectNodeContents(p);
        return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size;
      }),
    };
  }
  document.body.setAttribute('data-layout', JSON.stringify(out));
});`

type layout struct {
	Width, ScrollWidth  float64
	GridLeft, GridRight float64
	Columns             int
	Right               float64
	Spills              int
	Parts               [][]int
	Lines               []int
}

// TestLayoutInChromium lays a gallery of twelve results out in headless
// Chromium at desktop and phone width: the columns fill the width (as many
// as fit, the last ending at the grid's right edge; two on a phone),
// nothing is wider than the page or its tile, and long names wrap at
// their separators only (each part between two <wbr> stays on one line),
// except a part longer than a tile, which breaks rather than spilling.
func TestLayoutInChromium(t *testing.T) {
	bin := fixtures.Chromium(t) // a failure under HYBRIDEMBED_TEST_STRICT=1, as in CI
	dir := t.TempDir()
	names := []string{
		"2024/06_holiday-beach_photo.jpg",
		"2024/06_holiday-beach_photos/very_long_folder-name.with.dots/IMG_20240612_183455_HDR-edited-final-version-2.png",
		"2024/" + strings.Repeat("a", 90) + ".png",
	}
	var results []gallery.Result
	for i := range 12 {
		name := fmt.Sprintf("%02d.png", i)
		if i < len(names) {
			name = names[i]
		}
		results = append(results, gallery.Result{Path: name, File: photo(t, dir, name, 60+10*i, 40, color.RGBA{R: uint8(20 * i), G: 100, B: 160}), Score: 0.9 - float64(i)/20})
	}
	raw, _ := render(t, "hybridembed search: "+strings.Repeat("long-title/", 12), []gallery.Section{{Query: "a red circle", Results: results}})
	wrapper := fmt.Sprintf(`<!doctype html><html><body style="margin:0">
<iframe id="desktop" style="width:1280px;height:900px;border:0;display:block" srcdoc="%[1]s"></iframe>
<iframe id="phone" style="width:390px;height:844px;border:0;display:block" srcdoc="%[1]s"></iframe>
<script>%[2]s</script></body></html>`, html.EscapeString(raw), measure)
	page := filepath.Join(dir, "wrapper.html")
	require.NoError(t, os.WriteFile(page, []byte(wrapper), 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--window-size=1400,1900", "--dump-dom",
		(&url.URL{Scheme: "file", Path: filepath.ToSlash(page)}).String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	require.NoError(t, err, "%s", stderr.String())
	m := regexp.MustCompile(`data-layout="([^"]*)"`).FindSubmatch(dom)
	require.NotNil(t, m, "no measurements in the DOM Chromium dumped:\n%.2000s\n%s", dom, stderr.String())
	var got map[string]layout
	require.NoError(t, json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &got))
	t.Logf("%+v", got)

	for _, frame := range []string{"desktop", "phone"} {
		l, ok := got[frame]
		require.True(t, ok, frame)
		if frame == "desktop" {
			assert.GreaterOrEqual(t, l.Columns, 5, "%s: columns", frame)
		} else {
			assert.Equal(t, 2, l.Columns, "%s: columns", frame)
		}
		assert.InDelta(t, l.GridRight, l.Right, 1, "%s: the last column ends at the grid's right edge", frame)
		assert.Less(t, l.GridRight-l.GridLeft, l.Width, frame)
		assert.LessOrEqual(t, l.ScrollWidth, l.Width, "%s: no horizontal scrolling", frame)
		assert.Zero(t, l.Spills, "%s: a name spills out of its tile", frame)
		require.Len(t, l.Parts, len(results), frame)
		for i := range names[:2] {
			for j, lines := range l.Parts[i] {
				assert.Equal(t, 1, lines, "%s: %s: part %d breaks inside", frame, names[i], j)
			}
		}
		assert.Greater(t, l.Lines[1], 2, "%s: the long path wraps", frame)
		assert.Greater(t, l.Parts[2][1], 1, "%s: a part wider than its tile breaks", frame)
	}
}

// Package gallery writes search results as one self-contained HTML page:
// thumbnails embedded as data URIs, scores and paths, which a person opens
// in any browser with no server and no network.
package gallery

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/hybridembed/hybridembed/internal/atomicfile"
	"github.com/hybridembed/hybridembed/internal/thumb"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// Thumb is the longest side of a thumbnail, in pixels.
const Thumb = 256

// Result is one image in a section.
type Result struct {
	Path  string // as shown
	File  string // where the image is, for the thumbnail and the link
	Score float64
}

// Section is one query and its results, best first.
type Section struct {
	Query   string
	Results []Result
}

type item struct {
	Result
	Thumb template.URL // data: URI, "" when the image could not be read
	Href  template.URL
	Err   string
}

type section struct {
	Query string
	Items []item
}

// page is the whole document, with no scripts and nothing to fetch. The
// grid makes as many columns as the width holds (auto-fill, tiles at least
// 180px wide, 140px on a phone) and shares the whole width among them;
// names wrap at their separators (<wbr>), and a part longer than its tile
// breaks anywhere rather than spilling out; each score is labelled.
var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"inc":       func(i int) int { return i + 1 },
	"breakable": breakable,
	"score":     func(f float64) string { return fmt.Sprintf("%.4f", f) },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; background: #fafafa; color: #222; }
h1 { font-size: 1.2rem; font-weight: 600; overflow-wrap: anywhere; }
h2 { font-size: 1.05rem; margin: 2rem 0 .75rem; overflow-wrap: anywhere; }
.legend { color: #555; font-size: .85rem; margin: 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(180px, 100%), 1fr)); gap: 1rem; }
figure { margin: 0; min-width: 0; background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .5rem; }
figure a { display: block; }
figure img, .missing { width: 100%; aspect-ratio: 1; display: block; background: #eee; border-radius: 3px; }
figure img { object-fit: contain; }
.missing { box-sizing: border-box; padding: .5rem; display: flex; align-items: center; justify-content: center; color: #a00; font-size: .8rem; text-align: center; overflow-wrap: anywhere; }
figcaption { font-size: .8rem; margin-top: .4rem; line-height: 1.35; }
.meta { display: flex; gap: .5rem; align-items: baseline; }
.rank { color: #777; }
.score { font-variant-numeric: tabular-nums; }
.score b { font-weight: 600; }
.path { display: block; overflow-wrap: anywhere; color: #333; }
@media (max-width: 480px) {
  body { margin: .75rem; }
  .grid { grid-template-columns: repeat(auto-fill, minmax(min(140px, 100%), 1fr)); gap: .5rem; }
}
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="legend">Best match first. A score is the cosine similarity of the image to the query: higher is closer.</p>
{{range .Sections}}<section>
<h2>{{.Query}}</h2>
{{if not .Items}}<p>No results.</p>
{{else}}<div class="grid">
{{range $i, $it := .Items}}<figure>
{{if $it.Thumb}}<a href="{{$it.Href}}" title="{{$it.Path}}"><img src="{{$it.Thumb}}" alt="{{$it.Path}}" loading="lazy"></a>{{else}}<div class="missing">{{$it.Err}}</div>{{end}}
<figcaption><span class="meta"><span class="rank">#{{inc $i}}</span> <span class="score" title="cosine similarity to the query">score <b>{{score $it.Score}}</b></span></span><span class="path">{{breakable $it.Path}}</span></figcaption>
</figure>
{{end}}</div>
{{end}}</section>
{{end}}</body>
</html>
`))

// separators are where a file name may wrap: folders, and the words of a
// name (Windows folders too, since paths are shown as the system writes them).
const separators = `/\_-.`

// breakable escapes a file name for HTML and puts a <wbr> after each of
// its separators, so a long name wraps at its parts (2024/<wbr>06_<wbr>...)
// rather than mid-word or past the edge of its tile.
func breakable(name string) template.HTML {
	var b strings.Builder
	start := 0
	for i := 0; i < len(name); i++ { // bytes: every separator is ASCII, so never inside a rune
		if strings.IndexByte(separators, name[i]) >= 0 && i+1 < len(name) {
			b.WriteString(template.HTMLEscapeString(name[start : i+1]))
			b.WriteString("<wbr>")
			start = i + 1
		}
	}
	b.WriteString(template.HTMLEscapeString(name[start:]))
	return template.HTML(b.String())
}

// Write renders the sections as one HTML page on w. An image that cannot
// be read gets its error in place of the thumbnail; the page is still
// written. limits guard decoding as they do for embedding.
func Write(w io.Writer, title string, sections []Section, limits imageprep.Limits) error {
	var data struct {
		Title    string
		Sections []section
	}
	data.Title = title
	thumbs := map[string]item{} // one thumbnail per file, however often it appears
	for _, s := range sections {
		out := section{Query: s.Query}
		for _, r := range s.Results {
			it, ok := thumbs[r.File]
			if !ok {
				it = thumbnail(r.File, limits)
				thumbs[r.File] = it
			}
			it.Result = r
			out.Items = append(out.Items, it)
		}
		data.Sections = append(data.Sections, out)
	}
	return page.Execute(w, data)
}

func thumbnail(file string, limits imageprep.Limits) item {
	var it item
	if abs, err := filepath.Abs(file); err == nil {
		it.Href = template.URL((&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		it.Err = err.Error()
		return it
	}
	jpg, err := thumb.Make(data, Thumb, limits) // EXIF orientation applied
	if err != nil {
		it.Err = err.Error()
		return it
	}
	it.Thumb = template.URL("data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(jpg))
	return it
}

// WriteFile writes the page to path atomically: a reader never sees half a
// page, and a failure leaves an earlier page alone. Images with more than
// maxPixels pixels (0: imageprep.DefaultMaxPixels) get no thumbnail.
func WriteFile(path, title string, sections []Section, maxPixels int64) error {
	if maxPixels <= 0 {
		maxPixels = imageprep.DefaultMaxPixels
	}
	var buf bytes.Buffer
	if err := Write(&buf, title, sections, imageprep.Limits{MaxPixels: maxPixels}); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}

// Package gallery writes search results as one self-contained HTML page:
// thumbnails embedded as data URIs, scores and paths, which a person opens
// in any browser with no server and no network.
package gallery

import (
	"bytes"
	"encoding/base64"
	"html/template"
	"io"
	"net/url"
	"os"
	"path/filepath"

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

var page = template.Must(template.New("page").Funcs(template.FuncMap{"inc": func(i int) int { return i + 1 }}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; background: #fafafa; color: #222; }
h1 { font-size: 1.2rem; font-weight: 600; }
h2 { font-size: 1.05rem; margin-top: 2rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 1rem; }
figure { margin: 0; background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .5rem; }
figure img { width: 100%; height: 200px; object-fit: contain; display: block; background: #eee; }
.missing { height: 200px; display: flex; align-items: center; justify-content: center; background: #eee; color: #a00; font-size: .85rem; text-align: center; }
figcaption { font-size: .8rem; margin-top: .4rem; word-break: break-all; }
.score { font-variant-numeric: tabular-nums; font-weight: 600; }
.rank { color: #777; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{range .Sections}}<section>
<h2>{{.Query}}</h2>
{{if not .Items}}<p>No results.</p>{{end}}<div class="grid">
{{range $i, $it := .Items}}<figure>
{{if $it.Thumb}}<a href="{{$it.Href}}"><img src="{{$it.Thumb}}" alt="{{$it.Path}}" loading="lazy"></a>{{else}}<div class="missing">{{$it.Err}}</div>{{end}}
<figcaption><span class="rank">#{{inc $i}}</span> <span class="score">{{printf "%.4f" $it.Score}}</span><br>{{$it.Path}}</figcaption>
</figure>
{{end}}</div>
</section>
{{end}}</body>
</html>
`))

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
// page, and a failure leaves an earlier page alone.
func WriteFile(path, title string, sections []Section, limits imageprep.Limits) error {
	var buf bytes.Buffer
	if err := Write(&buf, title, sections, limits); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}

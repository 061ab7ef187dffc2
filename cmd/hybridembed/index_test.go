package main

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/hybridembed/hybridembed/internal/fixtures"
)

// sampleLibrary copies the sample images into a new library, one of them
// twice, with a file that is not an image.
func sampleLibrary(t *testing.T) string {
	t.Helper()
	lib := t.TempDir()
	for _, name := range []string{"red_circle.png", "green_triangle.jpg", "blue_square.png", "yellow_star.jpg"} {
		data, err := os.ReadFile(fixtures.Fixture("images", name))
		require.NoError(t, err)
		writeFile(t, filepath.Join(lib, name), data)
		if name == "blue_square.png" {
			writeFile(t, filepath.Join(lib, "more", "copy of blue.png"), data)
		}
	}
	return lib
}

func TestIndexCommand(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	lib := sampleLibrary(t)
	writeFile(t, filepath.Join(lib, "more", "broken.jpg"), []byte("not a jpeg"))

	r := runCLI(t, "", "index", "--model", model, lib)
	assert.Equal(t, exitPartial, r.code, r.stderr)
	assert.Contains(t, r.stderr, "broken.jpg: not a supported image")
	assert.Contains(t, r.stderr, "6 new, 0 changed, 0 renamed, 0 unchanged, 0 removed, 1 failed; 4 embedded, 1 reused")
	assert.FileExists(t, filepath.Join(lib, ".hybridembed", "index.db"))

	r = runCLI(t, "", "index", "--model", model, lib)
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "0 new, 0 changed, 0 renamed, 6 unchanged, 0 removed, 0 failed (and 1 that failed before, not retried: --retry-failed); 0 embedded")

	r = runCLI(t, "", "index", "--model", model, "--retry-failed", lib)
	assert.Equal(t, exitPartial, r.code, r.stderr)
	assert.Contains(t, r.stderr, "1 failed; 0 embedded", "tried again and failed again: not embedded")

	// An explicit index file elsewhere.
	other := filepath.Join(t.TempDir(), "photos.db")
	r = runCLI(t, "", "index", "--model", model, "--index", other, filepath.Join(lib, "red_circle.png"))
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.FileExists(t, other)

	r = runCLI(t, "", "index", "--model", fixtures.Fixture("models", "tiny-st"), lib)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "embeds text only, not images: an index needs a model that embeds images")
}

// storedVectors reads an index's vectors with plain SQL, independently of
// the index package: path -> unit vector.
func storedVectors(t *testing.T, dbPath string) map[string][]float64 {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT f.path, v.vector FROM files f JOIN vectors v ON v.hash = f.hash WHERE v.vector IS NOT NULL`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string][]float64{}
	for rows.Next() {
		var p string
		var blob []byte
		require.NoError(t, rows.Scan(&p, &blob))
		v := make([]float64, len(blob)/4)
		for i := range v {
			v[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(blob[4*i:])))
		}
		out[p] = unitVec(v)
	}
	require.NoError(t, rows.Err())
	return out
}

func unitVec(v []float64) []float64 {
	var n float64
	for _, x := range v {
		n += x * x
	}
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x / math.Sqrt(n)
	}
	return out
}

func vectorOfRecord(t *testing.T, rec map[string]any) []float64 {
	t.Helper()
	raw, ok := rec["embedding"].([]any)
	require.True(t, ok, "record %v", rec)
	v := make([]float64, len(raw))
	for i, x := range raw {
		v[i] = x.(float64)
	}
	return unitVec(v)
}

type searchLine struct {
	Query   string `json:"query"`
	Model   string `json:"model"`
	Results []hit  `json:"results"`
}

// TestSearchMatchesBruteForce: text, image and combined queries rank the
// stored vectors exactly as a brute force computed here from the index
// file and from `text` and `embed` output.
func TestSearchMatchesBruteForce(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	lib := sampleLibrary(t)
	r := runCLI(t, "", "index", "--model", model, lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	stored := storedVectors(t, filepath.Join(lib, ".hybridembed", "index.db"))
	require.Len(t, stored, 5)

	text := func(s string) []float64 {
		r := runCLI(t, "", "text", "--model", model, s)
		require.Equal(t, exitOK, r.code, r.stderr)
		return vectorOfRecord(t, records(t, r.stdout)[0])
	}
	img := filepath.Join(lib, "green_triangle.jpg")
	er := runCLI(t, "", "embed", "--model", model, img)
	require.Equal(t, exitOK, er.code, er.stderr)
	imgVec := vectorOfRecord(t, records(t, er.stdout)[0])
	combined := make([]float64, len(imgVec))
	red, star := text("red"), text("a star")
	for i := range combined {
		combined[i] = 2*red[i] + imgVec[i] - star[i]
	}
	queries := map[string][]float64{
		"a red circle":                 text("a red circle"),
		img:                            imgVec,
		"2:red + " + img + " - a star": unitVec(combined),
	}

	args := []string{"search", "--model", model, "--json", "--top", "10", "--no-update",
		"-q", "a red circle", "--image", img, "-q", "2:red + " + img + " - a star", lib}
	r = runCLI(t, "", args...)
	require.Equal(t, exitOK, r.code, r.stderr)
	var lines []searchLine
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var sl searchLine
		require.NoError(t, json.Unmarshal([]byte(l), &sl))
		lines = append(lines, sl)
	}
	require.Len(t, lines, 3)
	for _, got := range lines {
		q, ok := queries[got.Query]
		require.True(t, ok, got.Query)
		assert.Equal(t, model, got.Model)
		type ref struct {
			path  string
			score float64
		}
		var want []ref
		for p, v := range stored {
			var d float64
			for i := range v {
				d += v[i] * q[i]
			}
			want = append(want, ref{filepath.Join(lib, p), d})
		}
		sort.Slice(want, func(a, b int) bool {
			if want[a].score != want[b].score {
				return want[a].score > want[b].score
			}
			return want[a].path < want[b].path
		})
		require.Len(t, got.Results, len(want), got.Query)
		for i, h := range got.Results {
			assert.InDelta(t, want[i].score, h.Score, 1e-5, "%s rank %d", got.Query, i)
			if i > 0 && math.Abs(want[i].score-want[i-1].score) < 1e-6 {
				continue // duplicates tie
			}
			assert.Equal(t, want[i].path, h.Path, "%s rank %d", got.Query, i)
		}
	}

	// --paths, --top, --threshold, and a subfolder.
	r = runCLI(t, "", "search", "--model", model, "--paths", "--top", "1", "--no-update", "-q", "a red circle", filepath.Join(lib, "more"))
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, filepath.Join(lib, "more", "copy of blue.png")+"\n", r.stdout)
	r = runCLI(t, "", "search", "--model", model, "--json", "--threshold", "2", "--no-update", "-q", "a red circle", lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"results":[]`)
}

// TestSearchUpdatesFirst: search brings the index up to date unless told
// not to.
func TestSearchUpdatesFirst(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	lib := sampleLibrary(t)
	r := runCLI(t, "", "search", "--model", model, "--paths", "-q", "a star", lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Len(t, strings.Fields(strings.ReplaceAll(r.stdout, " ", "_")), 5)
	require.NoError(t, os.Remove(filepath.Join(lib, "yellow_star.jpg")))
	r = runCLI(t, "", "search", "--model", model, "--paths", "--no-update", "-q", "a star", lib)
	assert.Contains(t, r.stdout, "yellow_star.jpg", "--no-update searches the index as it is")
	r = runCLI(t, "", "search", "--model", model, "--paths", "-q", "a star", lib)
	assert.NotContains(t, r.stdout, "yellow_star.jpg")
	assert.Contains(t, r.stderr, "1 removed")

	r = runCLI(t, "", "search", "--model", model, lib)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "--query")
	r = runCLI(t, "", "search", "--model", model, "--image", filepath.Join(lib, "nope.jpg"), lib)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "nope.jpg")
}

// TestSearchHTMLGallery: the page parses, has one thumbnail per result
// (a JPEG data URI no larger than 256 px, the colours of its photo), its
// score and path.
func TestSearchHTMLGallery(t *testing.T) {
	isolate(t)
	model := fixtures.Fixture("models", "tiny-clip")
	lib := sampleLibrary(t)
	page := filepath.Join(t.TempDir(), "results.html")
	r := runCLI(t, "", "search", "--model", model, "--html", page, "-q", "a red circle", "-q", "a <b>bold</b> query", lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "gallery written to "+page)

	data, err := os.ReadFile(page)
	require.NoError(t, err)
	doc, err := html.Parse(bytes.NewReader(data))
	require.NoError(t, err)
	var imgs, captions []*html.Node
	var headings []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "img":
				imgs = append(imgs, n)
			case "figcaption":
				captions = append(captions, n)
			case "h2":
				headings = append(headings, text(n))
			case "script":
				t.Errorf("the page runs no scripts")
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	assert.Equal(t, []string{"a red circle", "a <b>bold</b> query"}, headings, "queries are escaped, not markup")
	require.Len(t, imgs, 10)
	require.Len(t, captions, 10)
	for i, n := range imgs {
		src, alt := attr(n, "src"), attr(n, "alt")
		require.True(t, strings.HasPrefix(src, "data:image/jpeg;base64,"), src[:min(len(src), 40)])
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:image/jpeg;base64,"))
		require.NoError(t, err)
		thumb, _, err := image.Decode(bytes.NewReader(raw))
		require.NoError(t, err)
		b := thumb.Bounds()
		assert.LessOrEqual(t, max(b.Dx(), b.Dy()), 256)
		orig := decodeFile(t, alt)
		assert.InDeltaSlice(t, meanColour(orig), meanColour(thumb), 12, "thumbnail of %s", alt)
		assert.Contains(t, text(captions[i]), alt)
	}
}

func decodeFile(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	img, _, err := image.Decode(f)
	require.NoError(t, err)
	return img
}

func meanColour(img image.Image) []float64 {
	var s [3]float64
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			s[0], s[1], s[2] = s[0]+float64(r>>8), s[1]+float64(g>>8), s[2]+float64(bl>>8)
		}
	}
	n := float64(b.Dx() * b.Dy())
	return []float64{s[0] / n, s[1] / n, s[2] / n}
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
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

// TestFirstUseDownload: a model id that is not cached is pulled (saying
// what, from where and how big) and the command goes on; offline or with
// --no-download the network is never touched.
func TestFirstUseDownload(t *testing.T) {
	lib := sampleLibrary(t)
	t.Run("online", func(t *testing.T) {
		s, _ := online(t)
		s.Host(t, "acme/tiny-clip", fixtures.Fixture("models", "tiny-clip"))
		r := runCLI(t, "", "index", "--model", "acme/tiny-clip", "--index", filepath.Join(t.TempDir(), "i.db"), lib)
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Contains(t, r.stderr, "acme/tiny-clip is not cached here; downloading it from "+s.URL)
		assert.Contains(t, r.stderr, "onnx/vision_model.onnx")
		assert.Regexp(t, `pulled acme/tiny-clip \([0-9.]+ [KM]iB\) from acme/tiny-clip@`, r.stderr)
		assert.Contains(t, r.stderr, "5 new")
	})
	for _, tc := range []struct {
		name string
		args []string
		env  string
	}{
		{"offline", nil, "1"},
		{"--offline", []string{"--offline"}, ""},
		{"--no-download", []string{"--no-download"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := online(t)
			s.Host(t, "acme/tiny-clip", fixtures.Fixture("models", "tiny-clip"))
			t.Setenv("HF_HUB_OFFLINE", tc.env)
			args := append([]string{"index", "--model", "acme/tiny-clip", "--index", filepath.Join(t.TempDir(), "i.db")}, tc.args...)
			r := runCLI(t, "", append(args, lib)...)
			assert.Equal(t, exitFatal, r.code)
			assert.Contains(t, r.stderr, "not cached")
			assert.Contains(t, r.stderr, "hybridembed models pull acme/tiny-clip")
			assert.Empty(t, s.Requests(), "the network is not touched")
		})
	}
}

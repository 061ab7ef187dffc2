package webui_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"image"
	_ "image/jpeg"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/internal/index"
	"github.com/hybridembed/hybridembed/internal/server"
	"github.com/hybridembed/hybridembed/internal/webui"
)

// The four captions of the issue: over the 96 held-out shapes, the first
// result is that shape.
var captions = map[string]string{
	"a red circle":     "red_circle",
	"a blue square":    "blue_square",
	"a green triangle": "green_triangle",
	"a yellow star":    "yellow_star",
}

func TestSearchRanksTheShapeFirst(t *testing.T) {
	p := startPage(t, webui.Config{Libraries: []string{shapesLibrary(t)}}, nil, 96)
	for caption, want := range captions {
		status, r := p.search(t, "q="+url.QueryEscape(caption))
		require.Equal(t, http.StatusOK, status, r.Error)
		require.Len(t, r.Results, webui.PageSize)
		assert.Equal(t, want, class(r.Results[0].Path), "%q: %v", caption, r.Results[:3])
		assert.True(t, r.More)
		for i := 1; i < len(r.Results); i++ {
			assert.GreaterOrEqual(t, r.Results[i-1].Score, r.Results[i].Score, "best first")
		}
		// The next page carries on where this one stopped, with no photo twice.
		status, r2 := p.search(t, strings.TrimPrefix(r.Next, "/ui/search?"))
		require.Equal(t, http.StatusOK, status)
		assert.Len(t, r2.Results, 96-webui.PageSize)
		assert.False(t, r2.More)
		seen := map[string]bool{}
		for _, x := range append(r.Results, r2.Results...) {
			assert.False(t, seen[x.ID], "%s twice", x.Path)
			seen[x.ID] = true
		}
		assert.GreaterOrEqual(t, r.Results[len(r.Results)-1].Score, r2.Results[0].Score)
	}
	// The CLI's weighted terms: "- a red circle" steers away from red circles.
	_, r := p.search(t, "q="+url.QueryEscape("a yellow star - a red circle"))
	assert.Equal(t, "yellow_star", class(r.Results[0].Path))
	for _, x := range r.Results[:10] {
		assert.NotEqual(t, "red_circle", class(x.Path))
	}
	// A term naming a file is text here, never a path the server opens.
	status, r := p.search(t, "q="+url.QueryEscape("2:"+fixtures.Fixture("images", "red_circle.png")+" + a red circle"))
	assert.Equal(t, http.StatusOK, status, r.Error)
	status, r = p.search(t, "q="+url.QueryEscape("a red circle +"))
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, r.Error, "empty term")
}

// TestSharedLinkDrawsResults: /?q=TEXT is drawn on the server, each result
// an <img> whose alt is the photo's path in its library.
func TestSharedLinkDrawsResults(t *testing.T) {
	lib := shapesLibrary(t)
	require.NoError(t, os.MkdirAll(filepath.Join(lib, "sub", "deeper"), 0o755))
	require.NoError(t, os.Rename(filepath.Join(lib, "006_red_star.png"), filepath.Join(lib, "sub", "deeper", "006_red_star.png")))
	p := startPage(t, webui.Config{Libraries: []string{lib}}, nil, 96)
	resp, err := http.Get(p.srv.URL + "/?q=" + url.QueryEscape("a red star"))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	page := string(body)
	assert.Contains(t, page, `value="a red star"`)
	assert.Equal(t, webui.PageSize, strings.Count(page, `<a class="hit"`))
	assert.Contains(t, page, `alt="sub/deeper/006_red_star.png"`)
	first := page[strings.Index(page, `<a class="hit"`):]
	first = first[strings.Index(first, `alt="`)+5:]
	assert.Equal(t, "red_star", class(first[:strings.IndexByte(first, '"')]))
	assert.Contains(t, page, `href="/?offset=48&amp;q=a&#43;red&#43;star"`, "a More link that works without script")
}

func TestSimilarStartsWithThePhoto(t *testing.T) {
	p := startPage(t, webui.Config{Libraries: []string{shapesLibrary(t)}}, nil, 96)
	_, r := p.search(t, "q="+url.QueryEscape("a green triangle"))
	photo := r.Results[0]
	status, like := p.search(t, "like="+photo.ID)
	require.Equal(t, http.StatusOK, status, like.Error)
	assert.Equal(t, photo.ID, like.Results[0].ID)
	assert.InDelta(t, 1, like.Results[0].Score, 1e-4)
	status, like = p.search(t, "like=0123456789abcdef0123")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, like.Error, "not in the index")
}

// postImage searches by an image sent as the page sends a dropped one.
func (p *page) postImage(t testing.TB, data []byte, fields map[string]string) (int, results) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("image", "query.png")
	require.NoError(t, err)
	fw.Write(data)
	for k, v := range fields {
		require.NoError(t, mw.WriteField(k, v))
	}
	require.NoError(t, mw.Close())
	resp, err := http.Post(p.srv.URL+"/ui/search", mw.FormDataContentType(), &body)
	require.NoError(t, err)
	defer resp.Body.Close()
	var r results
	raw, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(raw, &r), string(raw))
	return resp.StatusCode, r
}

func TestImageQuery(t *testing.T) {
	p := startPage(t, webui.Config{Libraries: []string{shapesLibrary(t)}, MaxUpload: 1 << 20}, nil, 96)
	for _, name := range []string{"red_circle.png", "blue_square.png", "green_triangle.jpg", "yellow_star.jpg"} {
		data, err := os.ReadFile(fixtures.Fixture("images", name))
		require.NoError(t, err)
		status, r := p.postImage(t, data, nil)
		require.Equal(t, http.StatusOK, status, r.Error)
		want := strings.TrimSuffix(name, filepath.Ext(name))
		assert.Equal(t, want, class(r.Results[0].Path), name)
		require.Len(t, r.Image, 64)
		// The next page names the image by its hash, without sending it.
		status, r2 := p.search(t, "image="+r.Image+"&offset=48")
		require.Equal(t, http.StatusOK, status, r2.Error)
		assert.Len(t, r2.Results, 48)
	}
	status, r := p.search(t, "image="+strings.Repeat("ab", 32))
	assert.Equal(t, http.StatusGone, status, "an image the server never saw (or forgot): send it again")
	assert.Contains(t, r.Error, "send it again")
	status, r = p.postImage(t, []byte("not an image at all"), nil)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, r.Error, "the image searched by")
	status, _ = p.postImage(t, make([]byte, 2<<20), nil)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
	status, r = p.postImage(t, fixtures.BombPNG(), nil)
	assert.Equal(t, http.StatusBadRequest, status, "a decompression bomb is refused before it decodes")
	assert.Contains(t, r.Error, "too large")
}

// TestImageQueryUnderServerLimits: beside the API, an image sent as a
// query is read under the embedding server's limits (its body limit and
// memory budget), and the API still answers beside the page.
func TestImageQueryUnderServerLimits(t *testing.T) {
	emb := shapesEmbedder(t)
	srv, err := server.New(context.Background(), emb, server.Config{Models: map[string]string{"shapes": fixtures.Fixture("models", "shapes-clip")},
		MaxBodyBytes: 1 << 20})
	require.NoError(t, err)
	m, err := emb.Model(context.Background(), fixtures.Fixture("models", "shapes-clip"))
	require.NoError(t, err)
	p := startPage(t, webui.Config{Libraries: []string{shapesLibrary(t)}, Model: m, WithBody: srv.WithBody, MaxUpload: 1 << 20}, srv.Handler(), 96)
	data, err := os.ReadFile(fixtures.Fixture("images", "yellow_star.jpg"))
	require.NoError(t, err)
	status, r := p.postImage(t, data, nil)
	require.Equal(t, http.StatusOK, status, r.Error)
	assert.Equal(t, "yellow_star", class(r.Results[0].Path))
	status, r = p.postImage(t, make([]byte, 2<<20), nil)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
	assert.Contains(t, r.Error, "over this server's limit", "refused by the server's own admission, before the body is read")
	resp, err := http.Post(p.srv.URL+"/v1/embeddings", "application/json", strings.NewReader(`{"model":"shapes","input":"a red circle"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestPreviewsAndOriginals: previews made by the project's pipeline,
// cached on disk by content hash outside the library, with validators; the
// original as it is in the library.
func TestPreviewsAndOriginals(t *testing.T) {
	lib := shapesLibrary(t)
	exif := fixtures.Golden(t, "preprocess", "chelsea_exif6.jpg")
	copyFile(t, exif, filepath.Join(lib, "cat", "chelsea_exif6.jpg"))
	p := startPage(t, webui.Config{Libraries: []string{lib}}, nil, 97)
	_, r := p.search(t, "q=cat")
	var cat result
	for _, x := range append(r.Results, p.all(t)...) {
		if x.Path == "cat/chelsea_exif6.jpg" {
			cat = x
		}
	}
	require.NotEmpty(t, cat.ID)

	get := func(path string, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest("GET", p.srv.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := get(cat.Thumb, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
	assert.Equal(t, "private, max-age=31536000, immutable", resp.Header.Get("Cache-Control"), "the URL names the contents")
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	img, _, err := image.Decode(resp.Body)
	require.NoError(t, err)
	// chelsea is stored 300x451 with EXIF orientation 6: upright it is 451
	// wide and 300 high, so its 320 preview is 320x213.
	assert.Equal(t, image.Pt(320, 213), img.Bounds().Size(), "EXIF orientation applied")
	hits, misses := p.ui.ThumbnailStats()
	assert.Equal(t, int64(0), hits)
	assert.Equal(t, int64(1), misses)

	// Cached on disk, outside the library; served from there next time.
	require.Eventually(t, func() bool { return len(cachedFiles(p.cfg.ThumbDir)) == 1 }, 5*time.Second, 5*time.Millisecond,
		"written after it was served")
	resp = get(strings.Split(cat.Thumb, "&v=")[0], nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "private, no-cache", resp.Header.Get("Cache-Control"), "no version: revalidate")
	hits, _ = p.ui.ThumbnailStats()
	assert.Equal(t, int64(1), hits)
	resp = get(cat.Thumb, map[string]string{"If-None-Match": etag})
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)

	resp = get(cat.Preview, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	img, _, err = image.Decode(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, image.Pt(451, 300), img.Bounds().Size(), "a preview is never larger than the photo")
	assert.Equal(t, http.StatusBadRequest, get("/ui/thumb/"+cat.ID+"?s=4096", nil).StatusCode)

	resp = get(cat.Original, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, _ := io.ReadAll(resp.Body)
	want, _ := os.ReadFile(exif)
	assert.Equal(t, want, body)
	assert.Equal(t, "image/jpeg", resp.Header.Get("Content-Type"))
	assert.Contains(t, resp.Header.Get("Content-Disposition"), `filename=chelsea_exif6.jpg`)
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "sandbox")
	resp = get(cat.Original, map[string]string{"Range": "bytes=0-1"})
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
}

// TestTornPreviewIsMadeAgain: a damaged preview in the cache (a crash of
// some other writer, a bad disk) is never served: it is made again.
func TestTornPreviewIsMadeAgain(t *testing.T) {
	p := startPage(t, webui.Config{Libraries: []string{shapesLibrary(t)}}, nil, 96)
	_, r := p.search(t, "q=a+red+circle")
	resp, err := http.Get(p.srv.URL + r.Results[0].Thumb)
	require.NoError(t, err)
	good, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Eventually(t, func() bool { return len(cachedFiles(p.cfg.ThumbDir)) == 1 }, 5*time.Second, 5*time.Millisecond)
	file := cachedFiles(p.cfg.ThumbDir)[0]
	require.NoError(t, os.WriteFile(file, good[:len(good)/2], 0o644))
	// Every answer is the whole preview, and soon the disk holds it again
	// (a preview just made is served from memory until its write is done,
	// so the torn file may be seen a request later).
	require.Eventually(t, func() bool {
		resp, err := http.Get(p.srv.URL + r.Results[0].Thumb)
		require.NoError(t, err)
		again, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, good, again)
		onDisk, _ := os.ReadFile(file)
		return bytes.Equal(good, onDisk)
	}, 10*time.Second, 20*time.Millisecond, "the cache holds the whole preview again")
}

// cachedFiles are the previews kept in dir (not the writer's temporary
// files).
func cachedFiles(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".jpg") && !strings.HasPrefix(d.Name(), ".") {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// all lists every photo (two pages).
func (p *page) all(t testing.TB) []result {
	var out []result
	for qs := "q=photo"; qs != ""; {
		_, r := p.search(t, qs)
		out = append(out, r.Results...)
		qs = strings.TrimPrefix(r.Next, "/ui/search?")
	}
	return out
}

// rawGet sends path byte for byte, as an attacker's client would (no
// cleaning, no re-encoding), and returns the status and body.
func rawGet(t testing.TB, base, path string, header ...string) (int, string) {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", path, u.Host)
	for _, h := range header {
		fmt.Fprintf(conn, "%s\r\n", h)
	}
	fmt.Fprint(conn, "\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestNothingOutsideTheLibraryIsServed tries every route with traversal,
// encoded traversal, backslashes, absolute paths and symbolic links out
// of the library; the secret next to the library never comes back.
func TestNothingOutsideTheLibraryIsServed(t *testing.T) {
	root := t.TempDir()
	lib := filepath.Join(root, "photos")
	outside := filepath.Join(root, "private")
	const marker = "SECRET-MARKER-7f3a"
	src, err := os.ReadFile(fixtures.Fixture("images", "red_circle.png"))
	require.NoError(t, err)
	secret := append(append([]byte{}, src...), marker...) // still a PNG: bytes after IEND are ignored
	require.NoError(t, os.MkdirAll(outside, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret.png"), secret, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret.txt"), []byte(marker), 0o644))
	copyFile(t, fixtures.Fixture("images", "blue_square.png"), filepath.Join(lib, "blue_square.png"))
	// A link to a file outside: the walk follows links to files, so it is
	// indexed and searchable, but its bytes must not be served.
	require.NoError(t, os.Symlink("../private/secret.png", filepath.Join(lib, "link.png")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret.png"), filepath.Join(lib, "abslink.png")))
	// A link to a folder outside: the walk follows linked folders (with
	// loop detection), so its photo is indexed too, and must not be served
	// either.
	require.NoError(t, os.Symlink(outside, filepath.Join(lib, "linkdir")))
	p := startPage(t, webui.Config{Libraries: []string{lib}}, nil, 4)

	all := p.all(t)
	require.Len(t, all, 4)
	var links []result
	for _, x := range all {
		if strings.Contains(x.Path, "link") {
			links = append(links, x)
		}
	}
	require.Len(t, links, 3, "the links are in the index: the test reaches them")
	paths := []string{}
	for _, l := range links {
		paths = append(paths, l.Original, l.Thumb, l.Preview, "/ui/thumb/"+l.ID)
	}
	for _, bad := range []string{
		"../private/secret.png", "..%2fprivate%2fsecret.png", "%2e%2e%2fprivate%2fsecret.png", "%2e%2e/private/secret.png",
		"..%5cprivate%5csecret.png", `..\private\secret.png`, "%2fetc%2fpasswd", "/etc/passwd", "//etc/passwd",
		filepath.Join(outside, "secret.txt"), url.PathEscape(filepath.Join(outside, "secret.txt")),
		"linkdir/secret.png", "linkdir%2fsecret.png", "link.png", "%2e%2e", "..", "%00../secret",
	} {
		for _, route := range []string{"/ui/original/", "/ui/thumb/", "/photo/", "/ui/static/", "/"} {
			paths = append(paths, route+bad)
		}
		paths = append(paths, "/ui/search?q="+url.QueryEscape(bad), "/ui/search?like="+url.QueryEscape(bad),
			"/ui/search?image="+url.QueryEscape(bad), "/?like="+url.QueryEscape(bad), "/ui/thumb/x?s=320&path="+url.QueryEscape(bad))
	}
	for _, path := range paths {
		status, body := rawGet(t, p.srv.URL, path)
		assert.False(t, strings.Contains(body, marker), "%s: the secret outside the library was served", path)
		assert.False(t, strings.Contains(body, "root:x:0:0"), "%s: /etc/passwd was served", path)
		if strings.HasPrefix(path, "/ui/original/") || strings.HasPrefix(path, "/ui/thumb/") {
			assert.NotEqual(t, http.StatusOK, status, path)
		}
	}
	// The photo inside the library is served as usual.
	for _, x := range all {
		if x.Path == "blue_square.png" {
			status, _ := rawGet(t, p.srv.URL, x.Original)
			assert.Equal(t, http.StatusOK, status)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	p := startPage(t, webui.Config{Libraries: []string{shapesLibrary(t)}}, nil, 96)
	resp, err := http.Get(p.srv.URL + "/?q=a+red+circle")
	require.NoError(t, err)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob:",
		"connect-src 'self'", "form-action 'self'", "frame-ancestors 'none'"} {
		assert.Contains(t, csp, d)
	}
	assert.NotContains(t, csp, "unsafe")
	assert.NotContains(t, csp, "http")
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, "same-origin", resp.Header.Get("Cross-Origin-Resource-Policy"))
	assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	// Assets are versioned and cached for good.
	resp, err = http.Get(p.srv.URL + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	i := strings.Index(string(body), "/ui/static/app.js?v=")
	require.Positive(t, i)
	js := string(body)[i:]
	js = js[:strings.IndexByte(js, '"')]
	resp, err = http.Get(p.srv.URL + js)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, resp.Header.Get("Cache-Control"), "immutable")
	// No link, script or style in the page points anywhere but here.
	for _, attr := range []string{`src="http`, `href="http`, `src="//`, `href="//`, "url(http"} {
		assert.NotContains(t, string(body), attr)
	}
}

// TestPhotoPage: a result's own page (where it links, for a new tab or a
// browser without script) is drawn, with the photo's path, preview,
// original and "similar"; an unknown id is a 404 page.
func TestPhotoPage(t *testing.T) {
	lib := shapesLibrary(t)
	p := startPage(t, webui.Config{Libraries: []string{lib}}, nil, 96)
	_, r := p.search(t, "q=a+red+circle")
	x := r.Results[0]
	resp, err := http.Get(p.srv.URL + x.Page)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Equal(t, "/photo/"+x.ID, x.Page)
	for _, want := range []string{x.Path, x.Original, x.Similar} {
		assert.Contains(t, string(body), html.EscapeString(want))
	}
	resp, err = http.Get(p.srv.URL + "/photo/nosuchid")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestReadOnly: no route writes, moves or deletes a file, whatever the
// method.
func TestReadOnly(t *testing.T) {
	lib := shapesLibrary(t)
	p := startPage(t, webui.Config{Libraries: []string{lib}}, nil, 96)
	_, r := p.search(t, "q=a+red+circle")
	x := r.Results[0]
	before, err := os.ReadFile(filepath.Join(lib, x.Path))
	require.NoError(t, err)
	for _, method := range []string{"PUT", "DELETE", "PATCH", "POST"} {
		for _, path := range []string{x.Original, x.Thumb, "/photo/" + x.ID, "/ui/static/app.js", "/ui/status"} {
			req, _ := http.NewRequest(method, p.srv.URL+path, strings.NewReader("overwritten"))
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.GreaterOrEqual(t, resp.StatusCode, 400, "%s %s", method, path)
		}
	}
	after, err := os.ReadFile(filepath.Join(lib, x.Path))
	require.NoError(t, err)
	assert.Equal(t, before, after)
	entries, _ := os.ReadDir(lib)
	assert.Len(t, entries, 97, "96 photos and the index folder")
}

// TestSignIn: with API keys, the page asks for one in a form and keeps an
// HttpOnly, SameSite=Strict session cookie; the API keeps Bearer keys.
func TestSignIn(t *testing.T) {
	const key = "sk-page-key"
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			http.Error(w, "api: no key", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "api: ok")
	})
	p := startPage(t, webui.Config{Libraries: []string{shapesLibrary(t)}, APIKeys: []string{"another", key}}, api, 96)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := noRedirect.Get(p.srv.URL + "/?q=a+red+circle")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/login?next=%2F%3Fq%3Da%2Bred%2Bcircle", resp.Header.Get("Location"))
	for _, path := range []string{"/ui/search?q=x", "/ui/status", "/ui/thumb/x", "/ui/original/x"} {
		resp, err := http.Get(p.srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, path)
	}
	// A link from another site arrives without the cookie: the page loads
	// itself again from here before asking to sign in.
	status, body := rawGet(t, p.srv.URL, "/?q=x", "Sec-Fetch-Site: cross-site")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `http-equiv="refresh"`)

	post := func(c *http.Client, form url.Values, hdr ...string) *http.Response {
		req, _ := http.NewRequest("POST", p.srv.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp = post(noRedirect, url.Values{"key": {"wrong"}, "next": {"/?q=a"}})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Empty(t, resp.Cookies())
	resp = post(noRedirect, url.Values{"key": {key}, "next": {"/?q=a"}}, "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a sign-in posted from another site")
	resp = post(noRedirect, url.Values{"key": {key}, "next": {"//evil.example/"}})
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Equal(t, "/", resp.Header.Get("Location"), "never on to another site")
	require.Len(t, resp.Cookies(), 1)
	c := resp.Cookies()[0]
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, c.SameSite)
	assert.NotContains(t, c.Value, key)

	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(p.srv.URL)
	jar.SetCookies(u, []*http.Cookie{c})
	browser := &http.Client{Jar: jar}
	resp, err = browser.Get(p.srv.URL + "/ui/search?q=a+red+circle")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	// The API routes take Bearer keys, not the page's cookie.
	resp, err = browser.Get(p.srv.URL + "/v1/models")
	require.NoError(t, err)
	body2, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, string(body2))
	req, _ := http.NewRequest("GET", p.srv.URL+"/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// A forged or altered cookie is no session.
	for _, v := range []string{c.Value + "x", "9999999999." + strings.SplitN(c.Value, ".", 2)[1], "1.abc", ""} {
		status, _ := rawGet(t, p.srv.URL, "/ui/status", "Cookie: hybridembed_session="+v)
		assert.Equal(t, http.StatusUnauthorized, status, v)
	}
	// Signing out drops the cookie.
	req, _ = http.NewRequest("POST", p.srv.URL+"/logout", nil)
	resp, err = noRedirect.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Len(t, resp.Cookies(), 1)
	assert.Equal(t, -1, resp.Cookies()[0].MaxAge)

	// Guessing is slowed: after a burst, 429.
	var statuses []int
	for range 10 {
		statuses = append(statuses, post(noRedirect, url.Values{"key": {"guess"}}).StatusCode)
	}
	assert.Contains(t, statuses, http.StatusTooManyRequests)
}

// TestLoopbackOnly: an open server on loopback answers only to loopback
// names, so a page on another site cannot reach it through DNS rebinding.
func TestLoopbackOnly(t *testing.T) {
	p := startPage(t, webui.Config{Libraries: []string{shapesLibrary(t)}, LoopbackOnly: true}, nil, 96)
	u, _ := url.Parse(p.srv.URL)
	_, port, _ := net.SplitHostPort(u.Host)
	for host, want := range map[string]int{
		"evil.example:" + port: http.StatusMisdirectedRequest, "192.168.1.10:" + port: http.StatusMisdirectedRequest,
		"localhost:" + port: http.StatusOK, "127.0.0.1:" + port: http.StatusOK, "[::1]:" + port: http.StatusOK,
		"photos.localhost:" + port: http.StatusOK, "127.0.0.1.evil.example": http.StatusMisdirectedRequest,
	} {
		req, _ := http.NewRequest("GET", p.srv.URL+"/ui/status", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, host)
	}
}

func TestConfigErrors(t *testing.T) {
	m := shapesModel(t)
	lib := shapesLibrary(t)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		cfg  webui.Config
		want string
	}{
		"missing":         {webui.Config{Libraries: []string{filepath.Join(lib, "nope")}, Model: m}, "no such file"},
		"a file":          {webui.Config{Libraries: []string{filepath.Join(lib, "000_red_circle.png")}, Model: m}, "not a folder"},
		"nested":          {webui.Config{Libraries: []string{lib, filepath.Join(lib, ".")}, Model: m}, "overlap"},
		"cache inside":    {webui.Config{Libraries: []string{lib}, Model: m, ThumbDir: filepath.Join(lib, "thumbs")}, "inside the library"},
		"no library":      {webui.Config{Model: m}, "no library"},
		"not image model": {webui.Config{Libraries: []string{lib}, Model: textModel(t)}, "only, not images"},
	} {
		_, err := webui.New(ctx, tc.cfg)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
	}
	_, err := os.Stat(filepath.Join(lib, ".hybridembed"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a refused configuration leaves the library alone")
}

// TestLibraryGoneKeepsTheIndex: a library folder that disappears (an
// unmounted disk) fails the update, which changes nothing: the page keeps
// searching what it had, and the index still holds every photo when the
// folder comes back.
func TestLibraryGoneKeepsTheIndex(t *testing.T) {
	lib := shapesLibrary(t)
	p := startPage(t, webui.Config{Libraries: []string{lib}, Rescan: 100 * time.Millisecond}, nil, 96)
	away := lib + ".unmounted"
	require.NoError(t, os.Rename(lib, away))
	require.Eventually(t, func() bool { return p.ui.Statuses()[0].Phase == "failed" }, 10*time.Second, 10*time.Millisecond)
	assert.Contains(t, p.ui.Statuses()[0].Error, "no such file")
	time.Sleep(300 * time.Millisecond) // a few more rescans
	status, r := p.search(t, "q=a+red+circle")
	require.Equal(t, http.StatusOK, status, r.Error)
	require.NotEmpty(t, r.Results, "still searchable")
	assert.Equal(t, "red_circle", class(r.Results[0].Path))
	ix, err := index.Open(context.Background(), filepath.Join(away, ".hybridembed", "index.db"), away)
	require.NoError(t, err)
	files, err := ix.Files(context.Background(), []string{away})
	require.NoError(t, err)
	ix.Close()
	assert.Len(t, files, 96, "nothing purged while the library was away")
	require.NoError(t, os.Rename(away, lib))
	require.Eventually(t, func() bool { return p.ui.Statuses()[0].Phase == "ready" }, 10*time.Second, 10*time.Millisecond)
	p.waitPhotos(t, 96)
}

// TestNewPhotosAppear: a photo copied into the library is found within
// seconds (file notifications), one removed disappears, and a folder of
// photos moved in is indexed too.
func TestNewPhotosAppear(t *testing.T) {
	lib := shapesLibrary(t)
	for name := range map[string]bool{"000_red_circle.png": true, "001_red_circle.png": true, "000_red_circle.jpg": true, "001_red_circle.jpg": true} {
		require.NoError(t, os.Rename(filepath.Join(lib, name), filepath.Join(t.TempDir(), name)))
	}
	p := startPage(t, webui.Config{Libraries: []string{lib}, Notify: true, Rescan: time.Hour}, nil, 92)
	if !p.ui.Statuses()[0].Watching {
		t.Skip("no file notifications on this platform")
	}
	copyFile(t, fixtures.Fixture("images", "red_circle.png"), filepath.Join(lib, "new_red_circle.png"))
	p.waitPhotos(t, 93)
	_, r := p.search(t, "q=a+red+circle")
	assert.Equal(t, "new_red_circle.png", r.Results[0].Path)
	require.NoError(t, os.Remove(filepath.Join(lib, "new_red_circle.png")))
	p.waitPhotos(t, 92)
	staged := filepath.Join(filepath.Dir(lib), "staged", "trip")
	copyFile(t, fixtures.Fixture("images", "red_circle.png"), filepath.Join(staged, "day1", "circle.png"))
	require.NoError(t, os.Rename(filepath.Dir(staged), filepath.Join(lib, "import")))
	p.waitPhotos(t, 93)
	_, r = p.search(t, "q=a+red+circle")
	assert.Equal(t, "import/trip/day1/circle.png", r.Results[0].Path)
	// And a photo in a folder created after the move (watched since).
	copyFile(t, fixtures.Fixture("images", "blue_square.png"), filepath.Join(lib, "import", "trip", "day2", "sq.png"))
	p.waitPhotos(t, 94)
}

// TestTwoLibraries: results of both, merged best first; a photo's path is
// relative to its own library.
func TestTwoLibraries(t *testing.T) {
	a := shapesLibrary(t)
	b := filepath.Join(t.TempDir(), "more")
	copyFile(t, fixtures.Fixture("images", "yellow_star.jpg"), filepath.Join(b, "trip", "star.jpg"))
	p := startPage(t, webui.Config{Libraries: []string{a, b}}, nil, 97)
	_, r := p.search(t, "q=a+yellow+star")
	var found bool
	for _, x := range r.Results[:5] {
		found = found || x.Path == "trip/star.jpg"
	}
	assert.True(t, found, "%v", r.Results[:5])
	for i := 1; i < len(r.Results); i++ {
		assert.GreaterOrEqual(t, r.Results[i-1].Score, r.Results[i].Score)
	}
	_, err := os.Stat(filepath.Join(b, ".hybridembed", "index.db"))
	assert.NoError(t, err, "each library has its own index, where `index DIR` puts it")
}

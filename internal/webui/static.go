package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// The page's templates, script, styles and icon, in the binary: the page
// needs nothing from the network and no build step.
//
//go:embed assets
var assets embed.FS

// asset is a static file, named in URLs with a version (its hash) so a
// browser may cache it for good.
type asset struct {
	data    []byte
	ctype   string
	version string
}

var assetTypes = map[string]string{
	".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
}

func loadAssets() (*template.Template, map[string]asset, error) {
	static := map[string]asset{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := assetTypes[path.Ext(p)]
		if !ok {
			return nil
		}
		data, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		static[path.Base(p)] = asset{data: data, ctype: ct, version: hex.EncodeToString(sum[:6])}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	funcs := template.FuncMap{
		// static is an asset's versioned URL.
		"static": func(name string) string { return "/ui/static/" + name + "?v=" + static[name].version },
	}
	tpl, err := template.New("").Funcs(funcs).ParseFS(assets, "assets/*.html")
	return tpl, static, err
}

// serveStatic answers GET /ui/static/{name}?v=VERSION.
func (u *UI) serveStatic(w http.ResponseWriter, r *http.Request) {
	a, ok := u.static[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	serveAsset(w, r, a)
}

// serveIcon answers a browser's GET /favicon.ico.
func (u *UI) serveIcon(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, u.static["icon.svg"])
}

func serveAsset(w http.ResponseWriter, r *http.Request, a asset) {
	hdr := w.Header()
	hdr.Set("Content-Type", a.ctype)
	hdr.Set("ETag", `"`+a.version+`"`)
	if r.URL.Query().Get("v") == a.version {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.data))
}

// render writes a page template.
func (u *UI) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := u.tpl.ExecuteTemplate(&buf, name, data); err != nil {
		u.log.Error("template", "name", name, "error", err.Error())
		http.Error(w, "the page could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "private, no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// safeNext is where to go after signing in: a path on this server only.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}

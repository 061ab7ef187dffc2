package webui

import "net/http"

// Handler serves the page's routes and passes every other request to api
// (the embedding API's handler, with its own Bearer keys; nil for none).
// The page's routes are GET / (the page; /?q=TEXT and /?like=ID are
// shareable), /photo/{id}, /login and /logout, and /ui/...: its data,
// previews, originals and assets.
func (u *UI) Handler(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	if api == nil {
		api = http.NotFoundHandler()
	}
	mux.Handle("/", api)
	mux.Handle("GET /{$}", u.guard(pageRoute, u.showPage))
	mux.Handle("GET /photo/{id}", u.guard(pageRoute, u.showPhoto))
	mux.Handle("GET /login", u.guard(publicRoute, u.showLogin))
	mux.Handle("POST /login", u.guard(publicRoute, u.checkLogin))
	mux.Handle("POST /logout", u.guard(publicRoute, u.logout))
	mux.Handle("GET /ui/static/{name}", u.guard(publicRoute, u.serveStatic))
	mux.Handle("GET /favicon.ico", u.guard(publicRoute, u.serveIcon))
	mux.Handle("GET /ui/search", u.guard(dataRoute, u.search))
	upload := u.cfg.WithBody
	if upload == nil {
		upload = u.readBody
	}
	mux.Handle("POST /ui/search", u.guard(dataRoute, upload(u.searchImage).ServeHTTP))
	mux.Handle("GET /ui/status", u.guard(dataRoute, u.showStatus))
	mux.Handle("GET /ui/thumb/{id}", u.guard(dataRoute, u.serveThumb))
	mux.Handle("GET /ui/original/{id}", u.guard(dataRoute, u.serveOriginal))
	// Anything else under /ui/, any method: nothing here changes a file.
	mux.Handle("/ui/", u.guard(publicRoute, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such page"})
	}))
	return mux
}

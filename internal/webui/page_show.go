package webui

import "net/http"

// pageView is what page.html draws.
type pageView struct {
	Title   string
	Query   string
	Like    *photoView
	Results *results // nil before a search
	Error   string
	Status  statusView
	Keys    bool // signed in with a key: offer to sign out
}

// showPage answers GET /, /?q=TEXT and /?like=ID: the search page, with
// the first page of results drawn on the server, so that a shared link
// shows them at once (and without script).
func (u *UI) showPage(w http.ResponseWriter, r *http.Request) {
	view := pageView{Title: "Photos", Status: u.statusView(), Keys: len(u.keys) > 0}
	q, offset, _, err := parseQuery(r.URL.Query())
	q.Image = "" // an image query cannot be shared: it lives in the browser that sent it
	view.Query = q.Text
	status := http.StatusOK
	switch {
	case err != nil:
		view.Error, status = err.Error(), searchStatus(err)
	case !q.empty():
		res, _, err := u.find(r.Context(), q, offset, PageSize)
		view.Like = res.Like
		if err != nil {
			view.Error, status = err.Error(), searchStatus(err)
			break
		}
		view.Results = &res
		view.Title = pageTitle(q, res)
	}
	u.render(w, status, "page.html", view)
}

func pageTitle(q query, res results) string {
	switch {
	case q.Text != "" && res.Like != nil:
		return q.Text + " · like " + res.Like.Path + " · Photos"
	case res.Like != nil:
		return "Like " + res.Like.Path + " · Photos"
	}
	return q.Text + " · Photos"
}

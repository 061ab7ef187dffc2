package webui

import "net/http"

type loginView struct {
	Next  string
	Error string
}

// showLogin answers GET /login: the sign-in form (a server with API keys
// asks for one of them; one without has nothing to sign in to).
func (u *UI) showLogin(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if len(u.keys) == 0 || u.signedIn(r) {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	u.render(w, http.StatusOK, "login.html", loginView{Next: next})
}

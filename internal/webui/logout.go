package webui

import "net/http"

// logout answers POST /logout: the session cookie is dropped.
func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	setSession(w, r, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

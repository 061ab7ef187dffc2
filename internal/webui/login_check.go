package webui

import (
	"net/http"
	"time"
)

// checkLogin answers POST /login (form fields key and next): a valid API
// key gets a session cookie and goes on to next. Failed attempts are
// limited for the whole server (a burst of five, then one a second).
func (u *UI) checkLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	next := safeNext(r.PostFormValue("next"))
	if len(u.keys) == 0 {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if !u.logins.allow(time.Now()) {
		w.Header().Set("Retry-After", "1")
		u.render(w, http.StatusTooManyRequests, "login.html", loginView{Next: next, Error: "Too many attempts: wait a second and try again."})
		return
	}
	key := u.keyFor(r.PostFormValue("key"))
	if key == nil {
		u.render(w, http.StatusUnauthorized, "login.html", loginView{Next: next, Error: "That is not one of this server's API keys."})
		return
	}
	setSession(w, r, u.newSession(key, time.Now()), int(sessionTTL/time.Second))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

package webui

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Content-Security-Policy values
// (https://developer.mozilla.org/docs/Web/HTTP/Headers/Content-Security-Policy).
const (
	// cspPage is every page's: script, styles, previews and data come from
	// this server only (blob: is an image dropped on the page, shown from
	// the browser's own memory); no inline script or style, no plugins, no
	// framing, and forms post only here. Nothing can be loaded from
	// anywhere else.
	cspPage = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; " +
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	// cspFile is an original's or a preview's, opened on its own: a
	// sandbox in which nothing runs and nothing loads (a browser's image
	// viewer still styles it). miniflux serves untrusted content so.
	cspFile = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
)

// How long a request's body may take to arrive and its answer to be
// written (an image query sent under the API's limits has the API's).
const (
	readTimeout     = time.Minute
	writeTimeout    = 2 * time.Minute
	originalTimeout = 30 * time.Minute
)

// sessionCookie holds a signed-in browser's session.
const sessionCookie = "hybridembed_session"

// sessionTTL is how long a sign-in lasts.
const sessionTTL = 30 * 24 * time.Hour

// routeKind picks how a guard refuses: a page redirects to the sign-in
// form, the page's data routes answer 401.
type routeKind int

const (
	pageRoute routeKind = iota
	dataRoute
	publicRoute
)

// guard wraps a route of the page: the security headers, the Host check,
// cross-origin protection for the forms and uploads, the session, and the
// request log.
func (u *UI) guard(kind routeKind, h http.HandlerFunc) http.Handler {
	csrf := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			u.log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)), slog.String("remote", r.RemoteAddr))
		}()
		// A client that sends its form or reads its answer too slowly does
		// not hold a goroutine (and an open photo) for ever; an original
		// gets longer (serveOriginal).
		rc := http.NewResponseController(w)
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			_ = rc.SetReadDeadline(time.Now().Add(readTimeout))
		}
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		hdr := rec.Header()
		hdr.Set("Content-Security-Policy", cspPage)
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
		// Another site may not even embed a preview or an original.
		hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
		if u.cfg.LoopbackOnly && !loopbackHost(r.Host) {
			http.Error(rec, "This server answers only as localhost or 127.0.0.1 (it has no API key): open it at one of those addresses.", http.StatusMisdirectedRequest)
			return
		}
		if err := csrf.Check(r); err != nil {
			http.Error(rec, "cross-origin request refused", http.StatusForbidden)
			return
		}
		if kind != publicRoute && !u.signedIn(r) {
			u.refuse(rec, r, kind)
			return
		}
		h(rec, r)
	})
}

// refuse answers a request without a session.
func (u *UI) refuse(w http.ResponseWriter, r *http.Request, kind routeKind) {
	if kind == dataRoute {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "sign in first"})
		return
	}
	// A link followed from another site arrives without the SameSite=Strict
	// cookie: load the page once more from here, when the cookie is sent,
	// before asking to sign in again.
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = u.tpl.ExecuteTemplate(w, "reload.html", nil)
		return
	}
	http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// loopbackHost reports whether a request's Host names this machine: a
// loopback address, localhost or a name under .localhost (which browsers
// resolve to loopback themselves).
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// signedIn reports whether the request may see the page: always without
// API keys, else with a valid session cookie.
func (u *UI) signedIn(r *http.Request) bool {
	if len(u.keys) == 0 {
		return true
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	return u.validSession(c.Value, time.Now())
}

// A session is "EXPIRY.MAC": the expiry in Unix seconds and an HMAC of it
// under the API key signed in with. Nothing is stored on the server; a
// session lasts until it expires or its key is removed from the server's
// keys, and the cookie never holds the key itself.
func (u *UI) newSession(key []byte, now time.Time) string {
	exp := strconv.FormatInt(now.Add(sessionTTL).Unix(), 10)
	return exp + "." + base64.RawURLEncoding.EncodeToString(sessionMAC(key, exp))
}

func (u *UI) validSession(v string, now time.Time) bool {
	exp, mac, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() >= t {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil {
		return false
	}
	found := 0
	for _, k := range u.keys {
		found |= subtle.ConstantTimeCompare(got, sessionMAC(k, exp))
	}
	return found == 1
}

func sessionMAC(key []byte, exp string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("hybridembed webui session\x00" + exp))
	return m.Sum(nil)
}

// keyFor returns the API key given, when it is one of the server's.
func (u *UI) keyFor(given string) []byte {
	sum := sha256.Sum256([]byte(strings.TrimSpace(given)))
	var match []byte
	for _, k := range u.keys {
		ks := sha256.Sum256(k)
		if subtle.ConstantTimeCompare(sum[:], ks[:]) == 1 {
			match = k
		}
	}
	return match
}

// setSession gives the browser its session cookie: HttpOnly (no script
// reads it), SameSite=Strict (no other site's request carries it), Secure
// over TLS.
func setSession(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// limiter is a token bucket for failed sign-ins: burst attempts at once,
// then one per every.
type limiter struct {
	mu     sync.Mutex
	burst  float64
	every  time.Duration
	tokens float64
	last   time.Time
}

func newLimiter(burst int, every time.Duration) *limiter {
	return &limiter{burst: float64(burst), every: every, tokens: float64(burst)}
}

func (l *limiter) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+float64(now.Sub(l.last))/float64(l.every))
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

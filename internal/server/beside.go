package server

import "net/http"

// WithBody serves a route beside the API (the search page's image upload,
// internal/webui) under the API's own limits: its body is admitted into
// the memory budget before it is read (413 over MaxBodyBytes, 429 with
// Retry-After while the budget is full), must arrive within BodyTimeout,
// and holds its share until h returns; the response must be written within
// WriteTimeout. Refusals are {"error": "..."}. Who may call the route is
// the caller's to check, before.
func (s *Server) WithBody(h func(w http.ResponseWriter, r *http.Request, body []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w, status: http.StatusOK, writeTimeout: s.cfg.WriteTimeout}
		body, release, err := s.readBody(rec, r)
		defer release()
		if err != nil {
			s.refuse(rec, r, apiHF, err)
			return
		}
		h(rec, r, body)
	})
}

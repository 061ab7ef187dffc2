package webui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"
)

// results is one page of a search's results.
type results struct {
	Query   string      `json:"query"`
	Like    *photoView  `json:"like,omitempty"`
	Image   string      `json:"image,omitempty"` // the hash an image query is remembered by
	Offset  int         `json:"offset"`
	Results []photoView `json:"results"`
	More    bool        `json:"more"`
	// Next is the data URL of the page after this one; NextPage the same
	// results as a page (for a browser without script).
	Next     string `json:"next,omitempty"`
	NextPage string `json:"next_page,omitempty"`
	// Searched is how many photos were ranked; Indexing is true while a
	// library is being indexed (more may come).
	Searched int  `json:"searched"`
	Indexing bool `json:"indexing"`
}

// maxQuery bounds a query's text.
const maxQuery = 2000

// parseQuery reads a query and the page wanted from URL parameters.
func parseQuery(v url.Values) (q query, offset, limit int, err error) {
	q = query{Text: v.Get("q"), Like: v.Get("like"), Image: v.Get("image")}
	if len(q.Text) > maxQuery || !utf8.ValidString(q.Text) {
		return q, 0, 0, &queryError{fmt.Errorf("the query is not text of at most %d bytes", maxQuery)}
	}
	if q.Image != "" && !isHash(q.Image) {
		return q, 0, 0, &queryError{errors.New("image: not an image's hash")}
	}
	offset, limit = 0, PageSize
	if s := v.Get("offset"); s != "" {
		if offset, err = strconv.Atoi(s); err != nil || offset < 0 || offset > MaxResults {
			return q, 0, 0, &queryError{fmt.Errorf("offset: want 0 to %d", MaxResults)}
		}
	}
	if s := v.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 2*PageSize {
			return q, 0, 0, &queryError{fmt.Errorf("limit: want 1 to %d", 2*PageSize)}
		}
	}
	return q, offset, limit, nil
}

func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// find runs a search over the current snapshot.
func (u *UI) find(ctx context.Context, q query, offset, limit int) (results, timing, error) {
	var tm timing
	s := u.snap.Load()
	res := results{Query: q.Text, Offset: offset, Searched: s.count, Results: []photoView{}}
	for _, st := range u.Statuses() {
		res.Indexing = res.Indexing || st.Busy()
	}
	if q.Like != "" {
		if p := s.byID[q.Like]; p != nil {
			v := viewOf(p, 0)
			res.Like = &v
		}
	}
	if q.upload != nil || q.Image != "" {
		res.Image = imageHash(q)
	}
	// The next page of a query over the same snapshot is a slice of the
	// ranking its first page made.
	key := q.Text + "\x00" + q.Like + "\x00" + res.Image
	r, _ := u.rankings.Get(key)
	if r == nil || r.snap != s {
		r = nil
	}
	hits, more, ok := []hit(nil), false, false
	if r != nil {
		hits, more, ok = r.page(offset, limit)
	}
	if !ok {
		vec, err := u.vector(ctx, s, q, &tm)
		if err != nil {
			return res, tm, err
		}
		k := min(MaxResults, max(rankDepth, 2*(offset+limit)))
		start := time.Now()
		ranked, err := s.rank(vec, k)
		tm.scan = time.Since(start)
		if err != nil {
			return res, tm, err
		}
		r = &ranking{snap: s, k: k, hits: ranked}
		u.rankings.Add(key, r)
		hits, more, _ = r.page(offset, limit)
	}
	if res.Image != "" {
		q.Image, q.upload = res.Image, nil
	}
	for i, h := range hits {
		v := viewOf(h.photo, h.score)
		v.Eager = offset+i < eagerResults
		res.Results = append(res.Results, v)
	}
	res.More = more && offset+len(hits) < MaxResults
	if res.More {
		res.Next = "/ui/search?" + searchURL(q, offset+len(hits))
		if q.Image == "" {
			res.NextPage = "/?" + searchURL(q, offset+len(hits))
		}
	}
	return res, tm, nil
}

// search answers GET /ui/search?q=TEXT&like=ID&image=HASH&offset=N: one
// page of results as JSON.
func (u *UI) search(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	q, offset, limit, err := parseQuery(r.URL.Query())
	if err != nil {
		searchError(w, err)
		return
	}
	u.answer(w, r, q, offset, limit, start)
}

// answer runs the search and writes its results (or why there are none)
// as JSON.
func (u *UI) answer(w http.ResponseWriter, r *http.Request, q query, offset, limit int, start time.Time) {
	res, tm, err := u.find(r.Context(), q, offset, limit)
	serverTiming(w, tm, start)
	if err != nil {
		searchError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// serverTiming says where the time went (shown by the browser's tools,
// read by make bench).
func serverTiming(w http.ResponseWriter, tm timing, start time.Time) {
	w.Header().Set("Server-Timing", fmt.Sprintf("embed;dur=%.2f, scan;dur=%.2f, total;dur=%.2f",
		ms(tm.embed), ms(tm.scan), ms(time.Since(start))))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// searchStatus is the HTTP status for a failed search.
func searchStatus(err error) int {
	var qe *queryError
	switch {
	case errors.Is(err, errImageExpired):
		return http.StatusGone
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &qe):
		return http.StatusBadRequest
	case errors.Is(err, errBusy):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		return 499
	}
	return http.StatusInternalServerError
}

func searchError(w http.ResponseWriter, err error) {
	status := searchStatus(err)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

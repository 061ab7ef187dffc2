package webui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// photoView is a photo as the page shows it (and as /ui/search returns
// it).
type photoView struct {
	ID       string  `json:"id"`
	Path     string  `json:"path"` // relative to its library
	Library  string  `json:"library"`
	Score    float32 `json:"score"`
	Modified string  `json:"modified,omitempty"` // RFC 3339
	Date     string  `json:"date,omitempty"`     // as shown
	Size     int64   `json:"size"`
	Thumb    string  `json:"thumb"`
	Preview  string  `json:"preview"`
	Original string  `json:"original"`
	Page     string  `json:"page"`
	Similar  string  `json:"similar"`
	// Eager marks the first results, whose previews load at once (the
	// rest wait until they scroll near).
	Eager bool `json:"-"`
}

// eagerResults is how many of the first results load their previews at
// once: about the first screen of a desktop.
const eagerResults = 18

func viewOf(p *photo, score float32) photoView {
	v := photoView{ID: p.ID, Path: p.Rel, Library: p.lib.name, Score: score, Size: p.Size,
		Thumb:    thumbURL(p, SmallSize),
		Preview:  thumbURL(p, LargeSize),
		Original: "/ui/original/" + p.ID,
		Page:     "/photo/" + p.ID,
		Similar:  "/?like=" + p.ID,
	}
	if p.Mtime != 0 {
		t := time.Unix(0, p.Mtime)
		v.Modified = t.Format(time.RFC3339)
		v.Date = t.Format("2 Jan 2006 15:04")
	}
	return v
}

// thumbURL names a preview by photo id, with the content's hash as a
// version: a URL that names the current contents can be cached for good.
func thumbURL(p *photo, size int) string {
	u := "/ui/thumb/" + p.ID + "?s=" + strconv.Itoa(size)
	if len(p.Hash) >= 16 {
		u += "&v=" + p.Hash[:16]
	}
	return u
}

// searchURL is the page's shareable URL for a query.
func searchURL(q query, offset int) string {
	v := url.Values{}
	if q.Text != "" {
		v.Set("q", q.Text)
	}
	if q.Like != "" {
		v.Set("like", q.Like)
	}
	if q.Image != "" {
		v.Set("image", q.Image)
	}
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	return v.Encode()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

package webui

import (
	"fmt"
	"net/http"
)

// statusView is what the page shows of the indexing.
type statusView struct {
	Libraries []Status `json:"libraries"`
	Photos    int      `json:"photos"`
	Indexing  bool     `json:"indexing"`
	Text      string   `json:"text"` // one line for the page
	Done      int64    `json:"done"` // over all libraries, in the busy phase's unit
	Total     int64    `json:"total"`
}

func (u *UI) statusView() statusView {
	v := statusView{Libraries: u.Statuses(), Photos: u.snap.Load().count}
	var texts []string
	for _, s := range v.Libraries {
		if !s.Busy() {
			if s.Error != "" {
				texts = append(texts, fmt.Sprintf("%s: indexing failed: %s", s.Library, s.Error))
			}
			continue
		}
		v.Indexing = true
		switch s.Phase {
		case "embedding":
			texts = append(texts, fmt.Sprintf("Indexing %s: %d of %d new photos", s.Library, s.Done, s.Total))
			v.Done, v.Total = v.Done+s.Done, v.Total+s.Total
		case "hashing":
			texts = append(texts, fmt.Sprintf("Indexing %s: reading %s of %s", s.Library, formatBytes(s.Done), formatBytes(s.Total)))
		case "waiting":
			texts = append(texts, fmt.Sprintf("Indexing %s: waiting for another hybridembed updating its index", s.Library))
		default:
			texts = append(texts, fmt.Sprintf("Indexing %s: looking for new photos", s.Library))
		}
	}
	switch {
	case len(texts) > 0:
		v.Text = joinSentences(texts)
		if v.Indexing {
			v.Text += fmt.Sprintf(" (%d searchable so far)", v.Photos)
		}
	case v.Photos == 1:
		v.Text = "1 photo"
	default:
		v.Text = fmt.Sprintf("%d photos", v.Photos)
	}
	return v
}

func joinSentences(s []string) string {
	out := s[0]
	for _, t := range s[1:] {
		out += "; " + t
	}
	return out
}

// showStatus answers GET /ui/status, which the page polls while indexing.
func (u *UI) showStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, u.statusView())
}

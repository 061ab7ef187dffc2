package webui

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// searchImage answers POST /ui/search: a multipart form with the image
// dropped or pasted on the page ("image"), and optionally the text terms
// ("q") and a photo ("like") to combine it with. The image's vector is
// remembered by its hash (returned as "image"), so the next pages are
// asked for with GET /ui/search?image=HASH, without sending it again.
func (u *UI) searchImage(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	r.Body = http.MaxBytesReader(w, r.Body, u.cfg.MaxUpload+1<<20)
	mr, err := r.MultipartReader()
	if err != nil {
		searchError(w, &queryError{fmt.Errorf("want a multipart/form-data body with the image: %w", err)})
		return
	}
	form := map[string][]string{}
	var upload []byte
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			searchError(w, uploadError(err, u.cfg.MaxUpload))
			return
		}
		switch name := part.FormName(); name {
		case "image":
			if upload, err = io.ReadAll(io.LimitReader(part, u.cfg.MaxUpload+1)); err != nil {
				searchError(w, uploadError(err, u.cfg.MaxUpload))
				return
			}
			if int64(len(upload)) > u.cfg.MaxUpload {
				searchError(w, uploadError(&http.MaxBytesError{Limit: u.cfg.MaxUpload}, u.cfg.MaxUpload))
				return
			}
		case "q", "like", "offset", "limit":
			b, err := io.ReadAll(io.LimitReader(part, maxQuery+1))
			if err != nil {
				searchError(w, uploadError(err, u.cfg.MaxUpload))
				return
			}
			form[name] = []string{string(b)}
		}
		part.Close()
	}
	if len(upload) == 0 {
		searchError(w, &queryError{errors.New("no image in the request (a form field named image)")})
		return
	}
	q, offset, limit, err := parseQuery(form)
	if err != nil {
		searchError(w, err)
		return
	}
	q.upload = upload
	u.answer(w, r, q, offset, limit, start)
}

func uploadError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &queryError{fmt.Errorf("%w (%s)", errTooLarge, formatBytes(limit))}
	}
	return &queryError{fmt.Errorf("reading the image: %w", err)}
}

package webui

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"time"
)

// searchImage answers POST /ui/search: a multipart form with the image
// dropped or pasted on the page ("image"), and optionally the text terms
// ("q") and a photo ("like") to combine it with. The image's vector is
// remembered by its hash (returned as "image"), so the next pages are
// asked for with GET /ui/search?image=HASH, without sending it again.
func (u *UI) searchImage(w http.ResponseWriter, r *http.Request, body []byte) {
	start := time.Now()
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		searchError(w, &queryError{errors.New("want a multipart/form-data body with the image")})
		return
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	form := map[string][]string{}
	var upload []byte
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			searchError(w, &queryError{fmt.Errorf("reading the form: %w", err)})
			return
		}
		switch name := part.FormName(); name {
		case "image":
			// The part is a slice of the body already held: read it whole.
			if upload, err = io.ReadAll(part); err != nil {
				searchError(w, &queryError{fmt.Errorf("reading the image: %w", err)})
				return
			}
			if int64(len(upload)) > u.cfg.MaxUpload {
				searchError(w, &queryError{fmt.Errorf("%w (%s)", errTooLarge, formatBytes(u.cfg.MaxUpload))})
				return
			}
		case "q", "like", "offset", "limit":
			b, err := io.ReadAll(io.LimitReader(part, maxQuery+1))
			if err != nil {
				searchError(w, &queryError{fmt.Errorf("reading the form: %w", err)})
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

// readBody reads a POST's body, up to MaxUpload and a little for the
// form around it, when no server limits are given (Config.WithBody).
func (u *UI) readBody(h func(w http.ResponseWriter, r *http.Request, body []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, u.cfg.MaxUpload+64<<10))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				err = fmt.Errorf("%w (%s)", errTooLarge, formatBytes(u.cfg.MaxUpload))
			}
			searchError(w, &queryError{err})
			return
		}
		h(w, r, body)
	})
}

package webui

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hybridembed/hybridembed/local/imageprep"
)

// serveThumb answers GET /ui/thumb/{id}?s=SIZE&v=VERSION: the photo's
// preview, SmallSize (the default) or LargeSize, made by the project's own
// pipeline and cached on disk by content hash. A URL whose v names the
// current contents is cached by the browser for good; any other is
// revalidated (ETag).
func (u *UI) serveThumb(w http.ResponseWriter, r *http.Request) {
	p := u.snap.Load().byID[r.PathValue("id")]
	if p == nil || p.Hash == "" {
		http.Error(w, "no such photo in the index", http.StatusNotFound)
		return
	}
	size := SmallSize
	switch s := r.URL.Query().Get("s"); s {
	case "", strconv.Itoa(SmallSize):
	case strconv.Itoa(LargeSize):
		size = LargeSize
	default:
		http.Error(w, "s: want "+strconv.Itoa(SmallSize)+" or "+strconv.Itoa(LargeSize), http.StatusBadRequest)
		return
	}
	v := r.URL.Query().Get("v")
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", cspFile)
	hdr.Set("Content-Type", "image/jpeg")
	cache := func(hash string) {
		hdr.Set("ETag", etag(hash, size))
		if len(v) >= 16 && strings.HasPrefix(hash, v) {
			hdr.Set("Cache-Control", "private, max-age=31536000, immutable")
		} else {
			hdr.Set("Cache-Control", "private, no-cache")
		}
	}
	// A browser revalidating what it has costs no decode, and no disk read.
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag(p.Hash, size)) {
		cache(p.Hash)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	t, err := u.thumbs.Get(r.Context(), p.Hash, size, func() ([]byte, error) {
		f, err := p.lib.open(p.Rel)
		if err != nil {
			return nil, &unreadable{err}
		}
		defer f.Close()
		data, err := imageprep.ReadAll(f, imageprep.Limits{})
		if err != nil && !errors.Is(err, imageprep.ErrTooLarge) {
			return nil, &unreadable{err}
		}
		return data, err
	})
	if err != nil {
		hdr.Del("Content-Type")
		fileError(w, err)
		return
	}
	cache(t.Hash)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(t.Data))
}

func etag(hash string, size int) string {
	return `"` + hash[:min(32, len(hash))] + "-" + strconv.Itoa(size) + `"`
}

// unreadable is a photo's file that cannot be opened or read through its
// library's os.Root: gone, unreadable, or leading out of the library.
type unreadable struct{ err error }

func (e *unreadable) Error() string { return e.err.Error() }
func (e *unreadable) Unwrap() error { return e.err }

// fileError answers a photo that cannot be shown: 404 for one that cannot
// be read from its library (gone, or leading out of it: the os.Root refuses
// it; which of the two is not said), 415 for one that does not decode.
func fileError(w http.ResponseWriter, err error) {
	var ur *unreadable
	switch {
	case errors.As(err, &ur):
		http.Error(w, "this photo cannot be read from its library", http.StatusNotFound)
	case errors.Is(err, imageprep.ErrTooLarge), errors.Is(err, imageprep.ErrCorrupt), errors.Is(err, imageprep.ErrUnknown),
		errors.Is(err, imageprep.ErrUnsupported), errors.Is(err, imageprep.ErrEmpty):
		http.Error(w, "this photo cannot be shown: "+err.Error(), http.StatusUnsupportedMediaType)
	default:
		http.Error(w, "this photo cannot be read", http.StatusInternalServerError)
	}
}

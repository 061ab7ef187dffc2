package webui

import (
	"io"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/hybridembed/hybridembed/local/imageprep"
)

// contentTypes are the types originals are served as, by what their bytes
// are (never by their name): anything else is a download.
var contentTypes = map[imageprep.Format]string{
	imageprep.JPEG: "image/jpeg", imageprep.PNG: "image/png", imageprep.GIF: "image/gif",
	imageprep.WebP: "image/webp", imageprep.BMP: "image/bmp", imageprep.TIFF: "image/tiff",
}

// serveOriginal answers GET /ui/original/{id}: the photo's file as it is
// in the library, opened through the library's os.Root (never a path a
// client gave), with Range and Last-Modified support.
func (u *UI) serveOriginal(w http.ResponseWriter, r *http.Request) {
	p := u.snap.Load().byID[r.PathValue("id")]
	if p == nil {
		http.Error(w, "no such photo in the index", http.StatusNotFound)
		return
	}
	f, err := p.lib.open(p.Rel)
	if err != nil {
		fileError(w, &unreadable{err})
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		fileError(w, &unreadable{err})
		return
	}
	head := make([]byte, 16)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		fileError(w, &unreadable{err})
		return
	}
	hdr := w.Header()
	ct, disposition := "application/octet-stream", "attachment"
	if format, ok := imageprep.Sniff(head[:n]); ok {
		ct, disposition = contentTypes[format], "inline"
	}
	hdr.Set("Content-Type", ct)
	hdr.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": path.Base(p.Rel)}))
	hdr.Set("Content-Security-Policy", cspFile)
	hdr.Set("Cache-Control", "private, no-cache")
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(originalTimeout))
	http.ServeContent(w, r, "", st.ModTime(), f)
}

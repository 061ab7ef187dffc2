package webui

import "net/http"

type photoPage struct {
	Title  string
	Query  string // the header's search box: empty on a photo's page
	Photo  photoView
	Size   string
	Status statusView
	Keys   bool
}

// showPhoto answers GET /photo/{id}: a photo's own page (the larger
// preview, its path, date and size, "similar" and the original), which the
// page's script shows in a dialog instead.
func (u *UI) showPhoto(w http.ResponseWriter, r *http.Request) {
	p := u.snap.Load().byID[r.PathValue("id")]
	if p == nil {
		u.render(w, http.StatusNotFound, "page.html", pageView{Title: "Photos", Status: u.statusView(), Keys: len(u.keys) > 0,
			Error: "That photo is not in the index (any more)."})
		return
	}
	v := viewOf(p, 0)
	u.render(w, http.StatusOK, "photo.html", photoPage{Title: v.Path + " · Photos", Photo: v, Size: formatBytes(p.Size),
		Status: u.statusView(), Keys: len(u.keys) > 0})
}

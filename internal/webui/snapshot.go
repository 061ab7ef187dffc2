package webui

import (
	"math"
	"sort"
	"time"

	"github.com/hybridembed/hybridembed/internal/index"
)

// libSnap is one library's vectors as last loaded, with the file of each
// row. It is never changed once published.
type libSnap struct {
	lib    *folder
	mat    *index.Matrix
	photos []photo // photos[i] is the file of mat row i
	took   time.Duration
}

// photo is a searchable image.
type photo struct {
	ID    string
	Rel   string // relative to its library folder, with forward slashes
	Hash  string // sha256 of the contents, hex ("" when unknown)
	Size  int64
	Mtime int64 // nanoseconds since 1970
	lib   *folder
	row   int
}

// vector is the photo's unit vector, as loaded.
func (p *photo) vector(s *snapshot) []float32 {
	ls := s.libs[p.lib.n]
	return ls.mat.Row(p.row)
}

// snapshot is every library's libSnap at one moment, and the photos by id.
type snapshot struct {
	libs  []*libSnap // by library; nil until one is loaded
	byID  map[string]*photo
	count int
}

// publish makes a new snapshot from the libraries' latest loads.
func (u *UI) publish() {
	u.pubMu.Lock()
	defer u.pubMu.Unlock()
	s := &snapshot{libs: make([]*libSnap, len(u.libs)), byID: map[string]*photo{}}
	for i, l := range u.libs {
		ls := l.snap.Load()
		s.libs[i] = ls
		if ls == nil {
			continue
		}
		for j := range ls.photos {
			if p := &ls.photos[j]; p.ID != "" {
				s.byID[p.ID] = p
				s.count++
			}
		}
	}
	u.snap.Store(s)
}

// hit is one result.
type hit struct {
	photo *photo
	score float32
}

// search ranks every photo of every library by cosine similarity to q and
// returns those at [offset, offset+limit), best first, and whether more
// follow.
func (s *snapshot) search(q []float32, offset, limit int) ([]hit, bool, error) {
	k := min(offset+limit, MaxResults)
	if k <= offset {
		return nil, false, nil
	}
	var all []hit
	for _, ls := range s.libs {
		if ls == nil || ls.mat.Len() == 0 {
			continue
		}
		found, err := ls.mat.Search(q, k, float32(math.Inf(-1)))
		if err != nil {
			return nil, false, err
		}
		for _, h := range found {
			if p := &ls.photos[h.Row]; p.ID != "" {
				all = append(all, hit{p, h.Score})
			}
		}
	}
	sort.SliceStable(all, func(a, b int) bool {
		if all[a].score != all[b].score {
			return all[a].score > all[b].score
		}
		if all[a].photo.lib.n != all[b].photo.lib.n {
			return all[a].photo.lib.n < all[b].photo.lib.n
		}
		return all[a].photo.row < all[b].photo.row
	})
	if offset >= len(all) {
		return nil, false, nil
	}
	end := min(len(all), k)
	more := end < s.count && end < MaxResults
	return all[offset:end], more, nil
}

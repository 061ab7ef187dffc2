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

// rank ranks every photo of every library by cosine similarity to q and
// returns the best k, best first.
func (s *snapshot) rank(q []float32, k int) ([]hit, error) {
	var all []hit
	for _, ls := range s.libs {
		if ls == nil || ls.mat.Len() == 0 {
			continue
		}
		found, err := ls.mat.Search(q, k, float32(math.Inf(-1)))
		if err != nil {
			return nil, err
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
	return all[:min(k, len(all))], nil
}

// ranking is a query's best results over one snapshot, kept so that the
// next pages of a scroll are slices of it, not new scans.
type ranking struct {
	snap *snapshot
	k    int // asked for; len(hits) < k when every photo is in it
	hits []hit
}

// rankDepth is how deep a first scan ranks: ten pages, for the cost of one
// scan.
const rankDepth = 10 * PageSize

// page is the results at [offset, offset+limit) and whether more follow,
// or ok false when the ranking is not deep enough.
func (r *ranking) page(offset, limit int) (hits []hit, more, ok bool) {
	// Every photo is ranked when fewer than k came back, or all of them.
	complete := len(r.hits) < r.k || len(r.hits) >= r.snap.count || r.k >= MaxResults
	end := min(offset+limit, MaxResults)
	if end > len(r.hits) && !complete {
		return nil, false, false
	}
	end = min(end, len(r.hits))
	if offset >= end {
		return nil, false, true
	}
	return r.hits[offset:end], end < len(r.hits) || !complete, true
}

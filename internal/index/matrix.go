package index

import (
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
)

// Matrix is one model's vectors for a set of paths, unit-normalised and
// stored in one contiguous array (row i is Data[i*Dim:(i+1)*Dim]), so an
// exact scan streams through memory.
type Matrix struct {
	Dim   int
	Paths []string // stored (root-relative) paths, one per row
	Data  []float32
}

// Len is the number of rows.
func (m *Matrix) Len() int { return len(m.Paths) }

// Row is row i.
func (m *Matrix) Row(i int) []float32 { return m.Data[i*m.Dim : (i+1)*m.Dim] }

// Load reads model's vectors for the files under paths. A model with no
// vectors in the index gives an empty matrix.
func (ix *Index) Load(ctx context.Context, model Model, paths []string) (*Matrix, error) {
	if err := model.check(); err != nil {
		return nil, err
	}
	m := &Matrix{Dim: model.Dim}
	id, ok, err := ix.modelID(ctx, model, false)
	if err != nil || !ok {
		return m, err
	}
	sc, err := ix.scope(paths)
	if err != nil {
		return nil, err
	}
	where, args := sc.where()
	var n int
	if err := ix.db.QueryRowContext(ctx, `SELECT count(*) FROM files WHERE `+where, args...).Scan(&n); err != nil {
		return nil, err
	}
	m.Paths = make([]string, 0, n)
	m.Data = make([]float32, 0, n*model.Dim)
	rows, err := ix.db.QueryContext(ctx, `SELECT f.path, v.vector FROM files f
		JOIN vectors v ON v.hash = f.hash AND v.model = ?
		WHERE v.vector IS NOT NULL AND (`+where+`) ORDER BY f.path`, append([]any{id}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var blob []byte
	for rows.Next() {
		var rel string
		if err := rows.Scan(&rel, &blob); err != nil {
			return nil, err
		}
		if len(blob) != 4*model.Dim {
			return nil, fmt.Errorf("index %s: %s: stored vector has %d bytes, want %d", ix.path, rel, len(blob), 4*model.Dim)
		}
		start := len(m.Data)
		var norm float64
		for i := 0; i < len(blob); i += 4 {
			x := math.Float32frombits(binary.LittleEndian.Uint32(blob[i:]))
			m.Data = append(m.Data, x)
			norm += float64(x) * float64(x)
		}
		if norm > 0 {
			inv := float32(1 / math.Sqrt(norm))
			for i := start; i < len(m.Data); i++ {
				m.Data[i] *= inv
			}
		}
		m.Paths = append(m.Paths, rel)
	}
	return m, rows.Err()
}

// Hit is one search result: a row and its cosine similarity to the query.
type Hit struct {
	Row   int
	Score float32
}

// Search returns the k rows most similar to q (cosine), best first, that
// score at least threshold. It scans every row (exact, no approximate
// index), split across the cores.
func (m *Matrix) Search(q []float32, k int, threshold float32) ([]Hit, error) {
	if len(q) != m.Dim {
		return nil, fmt.Errorf("index: the query has %d dimensions, the stored vectors %d", len(q), m.Dim)
	}
	if k <= 0 || m.Len() == 0 {
		return nil, nil
	}
	unit := make([]float32, len(q))
	var norm float64
	for _, x := range q {
		norm += float64(x) * float64(x)
	}
	if norm > 0 {
		inv := 1 / math.Sqrt(norm)
		for i, x := range q {
			unit[i] = float32(float64(x) * inv)
		}
	}
	parts := min(runtime.GOMAXPROCS(0), max(1, m.Len()/4096))
	tops := make([]topK, parts)
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := p*m.Len()/parts, (p+1)*m.Len()/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := topK{k: k}
			for r := lo; r < hi; r++ {
				s := dot(unit, m.Data[r*m.Dim:(r+1)*m.Dim])
				if s >= threshold {
					t.offer(Hit{r, s})
				}
			}
			tops[p] = t
		}()
	}
	wg.Wait()
	var all []Hit
	for _, t := range tops {
		all = append(all, t.hits...)
	}
	sort.Slice(all, func(a, b int) bool {
		if all[a].Score != all[b].Score {
			return all[a].Score > all[b].Score
		}
		return all[a].Row < all[b].Row
	})
	return all[:min(k, len(all))], nil
}

// topK keeps the k best hits seen, as a min-heap on score.
type topK struct {
	k    int
	hits []Hit
}

func (t *topK) Len() int { return len(t.hits) }
func (t *topK) Less(i, j int) bool {
	if t.hits[i].Score != t.hits[j].Score {
		return t.hits[i].Score < t.hits[j].Score
	}
	return t.hits[i].Row > t.hits[j].Row
}
func (t *topK) Swap(i, j int) { t.hits[i], t.hits[j] = t.hits[j], t.hits[i] }
func (t *topK) Push(x any)    { t.hits = append(t.hits, x.(Hit)) }
func (t *topK) Pop() any {
	h := t.hits[len(t.hits)-1]
	t.hits = t.hits[:len(t.hits)-1]
	return h
}

func (t *topK) offer(h Hit) {
	if len(t.hits) < t.k {
		heap.Push(t, h)
		return
	}
	if h.Score > t.hits[0].Score {
		t.hits[0] = h
		heap.Fix(t, 0)
	}
}

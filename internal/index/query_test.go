package index

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sqrt(x float64) float64 { return math.Sqrt(x) }

func TestParseQuery(t *testing.T) {
	isImage := func(s string) bool { return strings.HasSuffix(s, ".jpg") }
	for _, tc := range []struct {
		in   string
		want []Term
		err  string
	}{
		{"sunset", []Term{{1, "sunset", ""}}, ""},
		{"a t-shirt", []Term{{1, "a t-shirt", ""}}, ""},
		{"2:beach + ./me.jpg - people", []Term{{2, "beach", ""}, {1, "", "./me.jpg"}, {-1, "people", ""}}, ""},
		{"0.5:./dog.jpg + cat", []Term{{0.5, "", "./dog.jpg"}, {1, "cat", ""}}, ""},
		{"- grass", []Term{{-1, "grass", ""}}, ""},
		{"cat  +  dog", []Term{{1, "cat", ""}, {1, "dog", ""}}, ""},
		{"2:sunset\nbeach", []Term{{2, "sunset\nbeach", ""}}, ""},
		{"cat + ", nil, "empty term"},
		{"2: + cat", nil, "empty term"},
	} {
		got, err := ParseQuery(tc.in, isImage)
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestCombine(t *testing.T) {
	terms := []Term{{Weight: 2}, {Weight: -1}}
	v, err := Combine(terms, [][]float32{{3, 0}, {0, 5}})
	require.NoError(t, err)
	assert.InDeltaSlice(t, []float32{2 / float32(math.Sqrt(5)), -1 / float32(math.Sqrt(5))}, v, 1e-7)
	_, err = Combine([]Term{{Weight: 1}, {Weight: -1}}, [][]float32{{1, 0}, {2, 0}})
	assert.ErrorContains(t, err, "cancel out")
	_, err = Combine(terms, [][]float32{{1, 0}, {1}})
	assert.Error(t, err)
}

// TestSearchExact: the scan ranks exactly as a float64 brute force does,
// honours the threshold, and refuses a query of the wrong size.
func TestSearchExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n, dim = 20000, 64
	m := &Matrix{Dim: dim, Paths: make([]string, n), Data: make([]float32, n*dim)}
	raw := make([][]float64, n)
	for i := range n {
		raw[i] = make([]float64, dim)
		var norm float64
		for j := range dim {
			raw[i][j] = r.NormFloat64()
			norm += raw[i][j] * raw[i][j]
		}
		for j := range dim {
			m.Data[i*dim+j] = float32(raw[i][j] / math.Sqrt(norm))
		}
	}
	q := make([]float32, dim)
	for j := range q {
		q[j] = float32(r.NormFloat64())
	}
	type scored struct {
		row   int
		score float64
	}
	ref := make([]scored, n)
	var qn float64
	for _, x := range q {
		qn += float64(x) * float64(x)
	}
	for i := range n {
		var d, vn float64
		for j := range dim {
			d += float64(q[j]) * raw[i][j]
			vn += raw[i][j] * raw[i][j]
		}
		ref[i] = scored{i, d / math.Sqrt(qn*vn)}
	}
	sort.Slice(ref, func(a, b int) bool { return ref[a].score > ref[b].score })

	hits, err := m.Search(q, 50, -1)
	require.NoError(t, err)
	require.Len(t, hits, 50)
	for i, h := range hits {
		assert.Equal(t, ref[i].row, h.Row, "rank %d", i)
		assert.InDelta(t, ref[i].score, float64(h.Score), 1e-5)
	}
	threshold := float32(ref[9].score - 1e-6)
	hits, err = m.Search(q, 50, threshold)
	require.NoError(t, err)
	assert.Len(t, hits, 10)
	_, err = m.Search(q[:3], 5, -1)
	assert.ErrorContains(t, err, "3 dimensions")
}

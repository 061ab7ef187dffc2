package benchkit

import (
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// UnitVectors are n random dim-d unit vectors, row after row, for big
// stand-in indexes.
func UnitVectors(r *rand.Rand, n, dim int) []float32 {
	data := make([]float32, n*dim)
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	for i := range n {
		row := data[i*dim : (i+1)*dim]
		var s float64
		for _, x := range row {
			s += float64(x) * float64(x)
		}
		for j := range row {
			row[j] /= float32(math.Sqrt(s))
		}
	}
	return data
}

// Ms is d in milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Median is the middle of xs (not sorted in place).
func Median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return Percentile(s, 0.5)
}

// Percentile is the p-th (0 to 1) of sorted.
func Percentile(sorted []float64, p float64) float64 {
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

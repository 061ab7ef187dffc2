package pooling

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNormalize(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		name string
		in   []float32
		want []float32
		ok   bool
	}{
		{"3-4-5", []float32{3, 4}, []float32{0.6, 0.8}, true},
		{"already unit", []float32{0, -1, 0}, []float32{0, -1, 0}, true},
		{"tiny values keep their direction", []float32{1e-30, 1e-30}, []float32{float32(1 / math.Sqrt2), float32(1 / math.Sqrt2)}, true},
		{"zero stays zero", []float32{0, 0}, []float32{0, 0}, false},
		{"NaN is left alone", []float32{nan, 1}, []float32{nan, 1}, false},
		{"empty", nil, nil, false},
	} {
		v := append([]float32(nil), c.in...)
		assert.Equal(t, c.ok, Normalize(v), c.name)
		for i := range v {
			if math.IsNaN(float64(c.want[i])) {
				assert.True(t, math.IsNaN(float64(v[i])), c.name)
				continue
			}
			assert.InDelta(t, c.want[i], v[i], 1e-7, c.name)
		}
	}
}

func TestPoolMean(t *testing.T) {
	// Two rows of two tokens (hidden 2); the second row's second token is
	// padding and must not count.
	states := []float32{1, 2, 3, 4, 5, 6, 100, 100}
	mask := []int64{1, 1, 1, 0}
	out, err := Pool(states, mask, 2, 2, 2, []string{"mean"})
	assert.NoError(t, err)
	assert.Equal(t, [][]float32{{2, 3}, {5, 6}}, out)
}

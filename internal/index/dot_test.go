package index

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestDot: the dot product in use agrees with the plain loop at every
// length around the assembly's unrolling (tails of 0 to 15 elements).
func TestDot(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 70 {
		a, b := make([]float32, n), make([]float32, n+3) // b longer: only len(a) counts
		for i := range a {
			a[i] = r.Float32()*2 - 1
		}
		for i := range b {
			b[i] = r.Float32()*2 - 1
		}
		var want float64
		for i := range a {
			want += float64(a[i]) * float64(b[i])
		}
		assert.InDelta(t, want, float64(dot(a, b)), 1e-5, "n=%d", n)
		assert.InDelta(t, want, float64(dotGo(a, b)), 1e-5, "n=%d", n)
	}
}

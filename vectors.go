package hybridembed

import (
	"fmt"
	"math"
	"strings"
)

// Cosine is the cosine similarity of two vectors of one model (0 when
// either is zero). For normalised vectors it is their dot product.
func Cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range min(len(a), len(b)) {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// isUnit reports an L2 norm of 1 (within float32 rounding), whoever
// normalised the vector: us, the model's Normalize module, or the router.
func isUnit(v []float32) bool {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	return math.Abs(ss-1) < 1e-4
}

// excerpt names a text in errors without printing all of it.
func excerpt(s string) string {
	const n = 40
	r := []rune(strings.ToValidUTF8(s, "\uFFFD"))
	if len(r) > n {
		return fmt.Sprintf("text %q…", string(r[:n]))
	}
	return fmt.Sprintf("text %q", string(r))
}

package local

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestImmichClean: immich's clean_text as Python computes it (values from
// CPython 3.11: " ".join(s.split()), s.translate(no punctuation).lower()).
func TestImmichClean(t *testing.T) {
	for _, c := range []struct {
		in, plain, canon string
	}{
		{"  A  Photo,\tof\na CAT!  ", "A Photo, of a CAT!", "a photo of a cat"},
		{"ΟΔΟΣ ΣΟΦΙΑΣ Σ", "ΟΔΟΣ ΣΟΦΙΑΣ Σ", "οδος σοφιας σ"},
		{"ΟΔΟΣ. İstanbul", "ΟΔΟΣ. İstanbul", "οδος i\u0307stanbul"},
		{"x\x1cy\u00a0z\u3000w", "x y z w", "x y z w"},
		{"zero\u200bwidth", "zero\u200bwidth", "zero\u200bwidth"},
		{"snake_case [x] {y} <z> \"q\"", "snake_case [x] {y} <z> \"q\"", "snakecase x y z q"},
		{"Zürich — “quotes”", "Zürich — “quotes”", "zürich — “quotes”"},
	} {
		assert.Equal(t, c.plain, immichClean(c.in, false), "%q", c.in)
		assert.Equal(t, c.canon, immichClean(c.in, true), "%q", c.in)
	}
}

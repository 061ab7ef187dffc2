package index

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOutside: rows are outside a library unless their path is at or under
// it, a sibling whose name starts alike included.
func TestOutside(t *testing.T) {
	rows := []Imported{
		{Path: "/data/lib/a.jpg"}, {Path: "/data/lib/sub/b.jpg"}, {Path: "/data/lib"},
		{Path: "/data/library/c.jpg"}, {Path: "/data/d.jpg"}, {Path: "/data/lib/../e.jpg"},
	}
	n, first, err := Outside(rows, "/data/lib/")
	require.NoError(t, err)
	assert.Equal(t, 3, n, "a sibling whose name starts alike, the parent, and a path that climbs out")
	assert.Equal(t, "/data/library/c.jpg", first)
}

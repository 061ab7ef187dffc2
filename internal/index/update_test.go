package index

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/library"
)

// TestUpdateMissingPathChangesNothing: a path that cannot be stat'ed stops
// the update before any row changes.
func TestUpdateMissingPathChangesNothing(t *testing.T) {
	c, model := tinyModel(t)
	ctx := context.Background()
	lib := t.TempDir()
	makeLibrary(t, lib, 10)
	ix := openAt(t, lib)
	_, err := ix.Update(ctx, model, c, []string{lib}, UpdateOptions{})
	require.NoError(t, err)

	require.NoError(t, os.RemoveAll(filepath.Join(lib, "d1")))
	_, err = ix.Update(ctx, model, c, []string{lib, filepath.Join(lib, "d1")}, UpdateOptions{})
	var argErr *library.ArgError
	require.ErrorAs(t, err, &argErr)
	assert.Equal(t, filepath.Join(lib, "d1"), argErr.Path)
	assert.Equal(t, 10, count(t, ix, `SELECT count(*) FROM files`))
	assert.Equal(t, 10, count(t, ix, `SELECT count(*) FROM vectors`))

	// Without the missing argument, the walk of lib is complete: d1's two
	// photos are proven gone.
	st, err := ix.Update(ctx, model, c, []string{lib}, UpdateOptions{})
	require.NoError(t, err)
	assert.Equal(t, 2, st.Removed)
	assert.Equal(t, 8, count(t, ix, `SELECT count(*) FROM vectors`))
}

func TestUnder(t *testing.T) {
	for _, c := range []struct {
		rel  string
		dirs []string
		want bool
	}{
		{"a/b.png", []string{"a"}, true},
		{"a", []string{"a"}, true},
		{"ab/c.png", []string{"a"}, false},
		{"a/b/c.png", []string{"x", "a/b"}, true},
		{"a/bc/d.png", []string{"a/b"}, false},
		{"b.png", []string{"."}, true},
		{"../out/b.png", []string{"."}, false},
		{"../out/b.png", []string{"../out"}, true},
		{"a/b.png", nil, false},
	} {
		assert.Equal(t, c.want, under(c.rel, c.dirs), "%s under %v", c.rel, c.dirs)
	}
}

package filehash

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSum(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	data := bytes.Repeat([]byte("0123456789"), 300_000) // three reads
	require.NoError(t, os.WriteFile(p, data, 0o644))
	var steps int64
	sum, n, err := Sum(context.Background(), p, func(k int64) { steps += k })
	require.NoError(t, err)
	want := sha256.Sum256(data)
	assert.Equal(t, want[:], sum)
	assert.EqualValues(t, len(data), n)
	assert.EqualValues(t, len(data), steps)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = Sum(ctx, p, nil)
	assert.ErrorIs(t, err, context.Canceled)

	_, _, err = Sum(context.Background(), filepath.Join(t.TempDir(), "nope"), nil)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestHex(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(p, []byte("hello\n"), 0o644))
	sum, n, err := Hex(context.Background(), p)
	require.NoError(t, err)
	assert.Equal(t, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", sum, "sha256sum's")
	assert.EqualValues(t, 6, n)
	missing := filepath.Join(t.TempDir(), "nope")
	_, _, err = Hex(context.Background(), missing)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Equal(t, 1, strings.Count(err.Error(), missing), "named once: %v", err)
}

// TestReader: the sum covers every byte handed out and what was left
// unread, and the size and time are the file's as opened.
func TestReader(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	data := []byte("the bytes a decoder reads, and some it does not")
	require.NoError(t, os.WriteFile(p, data, 0o644))
	st, err := os.Stat(p)
	require.NoError(t, err)
	want := sha256.Sum256(data)

	t.Run("read whole", func(t *testing.T) {
		r := NewReader(p)
		got, err := io.ReadAll(r)
		require.NoError(t, err)
		assert.Equal(t, data, got)
		res, err := r.Finish()
		require.NoError(t, err)
		assert.Equal(t, want[:], res.Sum)
		assert.Equal(t, st.Size(), res.Size)
		assert.Equal(t, st.ModTime().UnixNano(), res.Mtime)
	})
	t.Run("read in part", func(t *testing.T) {
		r := NewReader(p)
		_, err := io.ReadFull(r, make([]byte, 9))
		require.NoError(t, err)
		res, err := r.Finish()
		require.NoError(t, err)
		assert.Equal(t, want[:], res.Sum)
	})
	t.Run("never read", func(t *testing.T) {
		res, err := NewReader(p).Finish()
		require.NoError(t, err)
		assert.Equal(t, want[:], res.Sum)
	})
	t.Run("missing", func(t *testing.T) {
		r := NewReader(filepath.Join(dir, "nope"))
		_, err := r.Read(make([]byte, 4))
		assert.ErrorIs(t, err, os.ErrNotExist)
		_, err = r.Finish()
		assert.ErrorIs(t, err, os.ErrNotExist, "no hash for a file never read")
	})
	t.Run("not a regular file", func(t *testing.T) {
		_, err := NewReader(dir).Finish()
		assert.ErrorContains(t, err, "not a regular file")
	})
	t.Run("closed", func(t *testing.T) {
		r := NewReader(p)
		_, err := r.Read(make([]byte, 4))
		require.NoError(t, err)
		require.NoError(t, r.Close())
		_, err = r.Read(make([]byte, 4))
		assert.ErrorIs(t, err, ErrClosed)
		_, err = r.Finish()
		assert.ErrorIs(t, err, ErrClosed)
		require.NoError(t, r.Close(), "Close twice")
	})
	t.Run("rewritten while read", func(t *testing.T) {
		q := filepath.Join(dir, "g")
		require.NoError(t, os.WriteFile(q, data, 0o644))
		r := NewReader(q)
		head := make([]byte, 9)
		_, err := io.ReadFull(r, head)
		require.NoError(t, err)
		other := bytes.Repeat([]byte("x"), len(data))
		require.NoError(t, os.WriteFile(q, other, 0o644)) // same inode, rewritten
		res, err := r.Finish()
		require.NoError(t, err)
		mixed := sha256.Sum256(append(head, other[9:]...))
		assert.Equal(t, mixed[:], res.Sum, "the sum is of the bytes read, whatever they were")
	})
}

package thumb_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/internal/thumb"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

func size(t *testing.T, data []byte) image.Point {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	return img.Bounds().Size()
}

func TestMake(t *testing.T) {
	exif, err := os.ReadFile(fixtures.Golden(t, "preprocess", "chelsea_exif6.jpg")) // stored 300x451, orientation 6
	require.NoError(t, err)
	wide, err := os.ReadFile(fixtures.Golden(t, "preprocess", "wide_900x40.png"))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		data []byte
		size int
		want image.Point
	}{
		{"upright", exif, 320, image.Pt(320, 213)},
		{"no upscale", exif, 1280, image.Pt(451, 300)},
		{"wide", wide, 320, image.Pt(320, 14)},
	} {
		out, err := thumb.Make(tc.data, tc.size, imageprep.Limits{})
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.want, size(t, out), tc.name)
	}
	_, err = thumb.Make(fixtures.BombPNG(), 320, imageprep.Limits{})
	assert.ErrorIs(t, err, imageprep.ErrTooLarge)
	_, err = thumb.Make([]byte("not an image"), 320, imageprep.Limits{})
	assert.ErrorIs(t, err, imageprep.ErrUnknown)
}

func TestCache(t *testing.T) {
	png, err := os.ReadFile(fixtures.Fixture("images", "red_circle.png"))
	require.NoError(t, err)
	sum := sha256.Sum256(png)
	hash := hex.EncodeToString(sum[:])
	dir := t.TempDir()
	c := thumb.NewCache(dir, 2, imageprep.Limits{})
	ctx := context.Background()
	var reads atomic.Int64
	read := func() ([]byte, error) { reads.Add(1); return png, nil }

	// Twenty requests at once make it once.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.Get(ctx, hash, 64, read)
			assert.NoError(t, err)
			assert.Equal(t, hash, got.Hash)
		}()
	}
	wg.Wait()
	c.Wait()
	assert.LessOrEqual(t, reads.Load(), int64(2), "concurrent misses share one decode (a late one may hit the disk)")
	got, err := c.Get(ctx, hash, 64, read)
	require.NoError(t, err)
	assert.True(t, got.Cached)
	assert.Equal(t, image.Pt(64, 48), size(t, got.Data)) // red_circle.png is 320x240
	_, err = os.Stat(filepath.Join(dir, "v1-64", hash[:2], hash+".jpg"))
	assert.NoError(t, err)

	// Contents rewritten since they were hashed are filed under what was read.
	stale := hex.EncodeToString(make([]byte, 32))
	got, err = c.Get(ctx, stale, 64, read)
	require.NoError(t, err)
	assert.Equal(t, hash, got.Hash)
	_, err = os.Stat(filepath.Join(dir, "v1-64", stale[:2], stale+".jpg"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	// A hash is checked before it becomes a path.
	for _, bad := range []string{"../../etc/passwd", hash[:63] + "/", hash[:62] + "..", "ABCDEF" + hash[6:]} {
		_, err := c.Get(ctx, bad, 64, read)
		assert.Error(t, err, bad)
	}
	boom := errors.New("boom")
	_, err = c.Get(ctx, hex.EncodeToString(bytes.Repeat([]byte{1}, 32)), 64, func() ([]byte, error) { return nil, boom })
	assert.ErrorIs(t, err, boom)

	// A cache that cannot be written still serves what it makes, and says so.
	ro := filepath.Join(t.TempDir(), "ro")
	require.NoError(t, os.WriteFile(ro, nil, 0o644)) // a file where the folder should be
	broken := thumb.NewCache(ro, 1, imageprep.Limits{})
	var writeErr atomic.Value
	broken.WriteError = func(err error) { writeErr.Store(err) }
	got, err = broken.Get(ctx, hash, 64, read)
	require.NoError(t, err)
	assert.NotEmpty(t, got.Data)
	broken.Wait()
	assert.NotNil(t, writeErr.Load())

	// A caller that gives up does not stop the work: the next finds it kept.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	slow := hex.EncodeToString(bytes.Repeat([]byte{2}, 32))
	release := make(chan struct{})
	_, err = c.Get(gone, slow, 32, func() ([]byte, error) { <-release; return png, nil })
	assert.ErrorIs(t, err, context.Canceled)
	close(release)
	require.Eventually(t, func() bool {
		c.Wait()
		_, err := os.Stat(filepath.Join(dir, "v1-32", hash[:2], hash+".jpg"))
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
}

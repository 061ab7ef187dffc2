package imageprep_test

import (
	"bytes"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

func TestHostileInputs(t *testing.T) {
	png, err := os.ReadFile(fixtures.Fixture("images", "red_circle.png"))
	require.NoError(t, err)
	jpg, err := os.ReadFile(fixtures.Fixture("images", "yellow_star.jpg"))
	require.NoError(t, err)
	bombPNG := fixtures.BombPNG()

	tests := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"empty", nil, imageprep.ErrEmpty, "empty"},
		{"text", []byte("hello, I am not an image\n"), imageprep.ErrUnknown, "not a supported image"},
		{"html error page", []byte("<!DOCTYPE html><html>404</html>"), imageprep.ErrUnknown, ""},
		{"truncated png", png[:len(png)/2], imageprep.ErrCorrupt, "png"},
		{"truncated jpeg", jpg[:len(jpg)/2], imageprep.ErrCorrupt, "jpeg"},
		{"jpeg header only", jpg[:200], imageprep.ErrCorrupt, ""},
		{"png signature only", png[:8], imageprep.ErrCorrupt, ""},
		{"65000x65000 jpeg header", fixtures.BombJPEG(), imageprep.ErrTooLarge, "65000x65000"},
		{"20000x20000 png", bombPNG, imageprep.ErrTooLarge, "20000x20000"},
		{"gif garbage", []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00garbage"), imageprep.ErrCorrupt, ""},
		{"riff not webp", []byte("RIFF\x10\x00\x00\x00WEBPVP8 \x00"), imageprep.ErrCorrupt, ""},
	}
	forEachJPEGDecoder(t, func(t *testing.T, _ string) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				_, err := imageprep.Decode(tc.data, imageprep.Limits{})
				runtime.ReadMemStats(&after)
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.want)
				assert.Contains(t, err.Error(), tc.msg)
				assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20), "refusing must not allocate the image")
			})
		}
	})

	// A lower limit is honoured, and the same image passes the default.
	_, err = imageprep.Decode(png, imageprep.Limits{MaxPixels: 1000})
	assert.ErrorIs(t, err, imageprep.ErrTooLarge)
	_, err = imageprep.Decode(png, imageprep.Limits{MaxBytes: 100})
	assert.ErrorIs(t, err, imageprep.ErrTooLarge)
	_, err = imageprep.ReadAll(bytes.NewReader(png), imageprep.Limits{MaxBytes: 100})
	assert.ErrorIs(t, err, imageprep.ErrTooLarge)
}

// TestTruncatedJPEGConcurrent: a truncated JPEG fails every time, even
// with decoders running on many threads (libjpeg-turbo keeps warning text
// per thread: it must be read on the thread that decoded), and good JPEGs
// decoded between them succeed.
func TestTruncatedJPEGConcurrent(t *testing.T) {
	forEachJPEGDecoder(t, func(t *testing.T, _ string) {
		jpg, err := os.ReadFile(fixtures.Fixture("images", "yellow_star.jpg"))
		require.NoError(t, err)
		good, err := os.ReadFile(fixtures.Fixture("images", "green_triangle.jpg"))
		require.NoError(t, err)
		truncated := jpg[:len(jpg)/2]
		var wg sync.WaitGroup
		var accepted, rejected atomic.Int64
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					if _, err := imageprep.Decode(truncated, imageprep.Limits{}); err == nil {
						accepted.Add(1)
					}
					if _, err := imageprep.Decode(good, imageprep.Limits{}); err != nil {
						rejected.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		assert.Zero(t, accepted.Load(), "truncated JPEGs accepted")
		assert.Zero(t, rejected.Load(), "good JPEGs refused")
	})
}

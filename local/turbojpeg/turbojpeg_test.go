package turbojpeg_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/local/turbojpeg"
)

// load skips the test when libjpeg-turbo cannot be loaded (fails instead
// under $HYBRIDEMBED_REQUIRE_TURBOJPEG, as make test sets it).
func load(t *testing.T) {
	t.Helper()
	if err := turbojpeg.Load(); err != nil {
		if os.Getenv("HYBRIDEMBED_REQUIRE_TURBOJPEG") != "" {
			t.Fatal(err)
		}
		t.Skipf("skipping: %v", err)
	}
}

func sample(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(4 * x), uint8(5 * y), 128, 255})
		}
	}
	var buf bytes.Buffer
	require.NoError(t, jpeg.Encode(&buf, img, nil))
	return buf.Bytes()
}

// TestDecodersFixedSet: 12 goroutines decoding through a set of 3, with
// collections between decodes, make at most 3 handles and never hold
// more than 3 alive; Close destroys every one, and a decode after Close
// is refused.
func TestDecodersFixedSet(t *testing.T) {
	load(t)
	data := sample(t)
	made0, destroyed0 := turbojpeg.Handles()
	d := turbojpeg.NewDecoders(3)
	var wg sync.WaitGroup
	var peak atomic.Int64
	for range 12 {
		wg.Go(func() {
			for range 20 {
				img, err := d.Decode(data, 1, nil)
				if !assert.NoError(t, err) {
					return
				}
				assert.Equal(t, [3]int{64, 48, 3}, [3]int{img.W, img.H, img.Channels})
				made, destroyed := turbojpeg.Handles()
				live := (made - made0) - (destroyed - destroyed0)
				for p := peak.Load(); live > p && !peak.CompareAndSwap(p, live); p = peak.Load() {
				}
				runtime.GC()
			}
		})
	}
	wg.Wait()
	made, destroyed := turbojpeg.Handles()
	assert.LessOrEqual(t, made-made0, int64(3), "handles made for 240 decodes on a set of 3")
	assert.LessOrEqual(t, peak.Load(), int64(3), "handles alive at once")
	assert.Equal(t, destroyed0, destroyed, "none destroyed before Close")

	require.NoError(t, d.Close())
	require.NoError(t, d.Close(), "a second Close does nothing")
	made, destroyed = turbojpeg.Handles()
	assert.Equal(t, made-made0, destroyed-destroyed0, "Close destroys every handle made")
	_, err := d.Decode(data, 1, nil)
	assert.ErrorIs(t, err, turbojpeg.ErrClosed)
}

// TestDecodersCloseWhileDecoding: handles in use when Close runs are
// destroyed as their decodes end, and a decode waiting for a handle is
// released with ErrClosed rather than left waiting.
func TestDecodersCloseWhileDecoding(t *testing.T) {
	load(t)
	data := sample(t)
	made0, destroyed0 := turbojpeg.Handles()
	d := turbojpeg.NewDecoders(1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				if _, err := d.Decode(data, 1, nil); err != nil {
					assert.ErrorIs(t, err, turbojpeg.ErrClosed)
					return
				}
			}
		})
	}
	for {
		if made, _ := turbojpeg.Handles(); made > made0 {
			break
		}
		runtime.Gosched()
	}
	require.NoError(t, d.Close())
	wg.Wait()
	made, destroyed := turbojpeg.Handles()
	assert.Equal(t, int64(1), made-made0)
	assert.Equal(t, int64(1), destroyed-destroyed0)
}

// TestDecodeDestroysItsHandle: the package function makes a handle per
// image and destroys it.
func TestDecodeDestroysItsHandle(t *testing.T) {
	load(t)
	data := sample(t)
	made0, destroyed0 := turbojpeg.Handles()
	for range 10 {
		_, err := turbojpeg.Decode(data, 2, nil)
		require.NoError(t, err)
	}
	made, destroyed := turbojpeg.Handles()
	assert.Equal(t, int64(10), made-made0)
	assert.Equal(t, int64(10), destroyed-destroyed0)
	_, err := turbojpeg.Decode(data[:len(data)/2], 1, nil)
	assert.Error(t, err, "a file cut short")
	made, destroyed = turbojpeg.Handles()
	assert.Equal(t, made, destroyed, "an error destroys the handle too")
}

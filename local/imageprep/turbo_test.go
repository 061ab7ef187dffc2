package imageprep_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/turbojpeg"
)

// The tests link libjpeg-turbo's binding as the engine does, so that every
// JPEG golden runs through both decoders.
func init() { imageprep.UseJPEGLibrary(local.TurboJPEG) }

// turboSet is a fixed set of libjpeg-turbo handles as the engine hands
// them to imageprep: handles are reused from one image to the next.
type turboSet struct{ d *turbojpeg.Decoders }

func (t turboSet) DecodeJPEG(data []byte, scale int, buf []byte) (int, int, int, []byte, error) {
	img, err := t.d.Decode(data, scale, buf)
	return img.W, img.H, img.Channels, img.Pix, err
}

// TestJPEGBadHeaderThenGood: a JPEG that libjpeg-turbo refuses while
// reading its header (here: two SOI markers) must not spoil the decoder
// for the next one. tjDecompressHeader3 leaves its handle mid-header on an
// error, and every later header read on that handle failed with the same
// "two SOI markers": with the engine's fixed set of handles, one bad
// upload would spoil a handle for good.
func TestJPEGBadHeaderThenGood(t *testing.T) {
	good, err := os.ReadFile(fixtures.Fixture("images", "yellow_star.jpg"))
	require.NoError(t, err)
	bad := append([]byte("\xff\xd8"), good...)
	set := turbojpeg.NewDecoders(1) // one handle, reused as the engine reuses its set
	defer set.Close()
	dec := imageprep.Decoder{JPEG: turboSet{set}}
	forEachJPEGDecoder(t, func(t *testing.T, _ string) {
		for i := range 20 {
			_, err := dec.Decode(bad)
			require.Error(t, err)
			_, err = dec.Decode(good)
			require.NoError(t, err, "good JPEG after %d bad ones", i+1)
		}
	})
}

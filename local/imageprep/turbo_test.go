package imageprep_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/testdata"
	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// The tests link libjpeg-turbo's binding as the engine does, so that every
// JPEG golden runs through both decoders.
func init() { imageprep.UseJPEGLibrary(local.TurboJPEG) }

// TestJPEGBadHeaderThenGood: a JPEG that libjpeg-turbo refuses while
// reading its header (here: two SOI markers) must not spoil the decoder
// for the next one. tjDecompressHeader3 leaves its handle mid-header on an
// error, and every later header read on that handle failed with the same
// "two SOI markers", so that after one bad upload good JPEGs failed.
func TestJPEGBadHeaderThenGood(t *testing.T) {
	good, err := os.ReadFile(testdata.Fixture("images", "yellow_star.jpg"))
	require.NoError(t, err)
	bad := append([]byte("\xff\xd8"), good...)
	forEachJPEGDecoder(t, func(t *testing.T, _ string) {
		for i := range 20 {
			_, err := imageprep.Decode(bad, imageprep.Limits{})
			require.Error(t, err)
			_, err = imageprep.Decode(good, imageprep.Limits{})
			require.NoError(t, err, "good JPEG after %d bad ones", i+1)
		}
	})
}

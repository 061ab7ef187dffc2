package turbojpeg_test

import (
	"os"
	"testing"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/turbojpeg"
)

// FuzzHeader reads headers and decodes with libjpeg-turbo. Header and
// Decode must agree (Decode reads the same header before it allocates),
// a decoded image must be the header's size with one byte per channel
// per pixel, and after every input, good or bad, a good JPEG must still
// decode on the same handle: a failed header read once left a handle
// unusable.
// Without the library it skips ($HYBRIDEMBED_REQUIRE_TURBOJPEG fails).
func FuzzHeader(f *testing.F) {
	if err := turbojpeg.Load(); err != nil {
		if os.Getenv("HYBRIDEMBED_REQUIRE_TURBOJPEG") != "" {
			f.Fatal(err)
		}
		f.Skipf("skipping: %v", err)
	}
	good, err := os.ReadFile(fixtures.Fixture("images", "yellow_star.jpg"))
	if err != nil {
		f.Fatal(err)
	}
	set := turbojpeg.NewDecoders(1) // one handle for every input, as the engine reuses its set
	defer set.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		h, herr := turbojpeg.Header(data)
		if herr == nil {
			if h.W < 1 || h.H < 1 || (h.Channels != 1 && h.Channels != 3 && h.Channels != 4) {
				t.Fatalf("header: %dx%d, %d channels", h.W, h.H, h.Channels)
			}
		}
		// Only a header's worth of data is read for a large claim: the
		// decoders' callers check the size against their limit first.
		if herr != nil || h.W*h.H <= 1<<20 {
			img, err := set.Decode(data, 1, nil)
			switch {
			case err == nil && herr != nil:
				t.Fatalf("Decode decoded %dx%d; Header: %v", img.W, img.H, herr)
			case err == nil && (img.W != h.W || img.H != h.H || img.Channels != h.Channels || len(img.Pix) != img.W*img.H*img.Channels):
				t.Fatalf("Header says %dx%dx%d, Decode made %dx%dx%d in %d bytes", h.W, h.H, h.Channels, img.W, img.H, img.Channels, len(img.Pix))
			}
		}
		if _, err := set.Decode(good, 1, nil); err != nil {
			t.Fatalf("a good JPEG after this input: %v", err)
		}
	})
}

package imageprep_test

import (
	"bytes"
	"errors"
	"image"
	"image/png"
	"testing"

	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/turbojpeg"
)

// fuzzLimits keeps the fuzzer's images small: anything over a megapixel
// must be refused from its header.
var fuzzLimits = imageprep.Limits{MaxPixels: 1 << 20}

// FuzzDecode decodes with every JPEG decoder this machine has (for
// libjpeg-turbo, one handle reused across inputs, as the engine's), through
// DecodeUnguarded (no recover between here and the decoders: a panic is a
// failure, not an error). Whatever decodes must be no larger than the
// limit and exactly the size its header declared (so the limit, checked
// on the header, bounds what was allocated), must survive preprocessing,
// and, as the standard library's image/png fuzz test asks, must encode
// and decode again to the same bounds and pixels. Both decoders must
// agree on the size of what they both decode. Whatever fails must fail
// with one of the package's errors. Seeds: testdata/fuzz/FuzzDecode,
// small files from scripts/fixtures/fuzzseeds.py, and what the fuzzer
// found.
func FuzzDecode(f *testing.F) {
	decoders := []string{imageprep.JPEGGo}
	if imageprep.SetJPEGDecoder(imageprep.JPEGTurbo) == nil {
		decoders = append(decoders, imageprep.JPEGTurbo)
	}
	defer imageprep.SetJPEGDecoder("")
	// One libjpeg-turbo handle for every input, reused as the engine
	// reuses its fixed set.
	set := turbojpeg.NewDecoders(1)
	defer set.Close()
	dec := imageprep.Decoder{Limits: fuzzLimits, JPEG: turboSet{set}}
	p := imageprep.CLIPProcessor(32)
	f.Fuzz(func(t *testing.T, data []byte) {
		var sizes []image.Point
		for _, name := range decoders {
			if err := imageprep.SetJPEGDecoder(name); err != nil {
				t.Fatal(err)
			}
			img, err := dec.DecodeUnguarded(data)
			if err != nil {
				checkDecodeError(t, name, err)
				continue
			}
			checkDecoded(t, dec, name, data, img, p)
			sizes = append(sizes, image.Pt(img.W, img.H))
			imageprep.Recycle(img)
		}
		for _, s := range sizes[min(1, len(sizes)):] {
			if s != sizes[0] {
				t.Fatalf("the decoders disagree on the size: %v (%v)", sizes, decoders)
			}
		}
	})
}

func checkDecodeError(t *testing.T, decoder string, err error) {
	t.Helper()
	for _, known := range []error{imageprep.ErrEmpty, imageprep.ErrUnknown, imageprep.ErrCorrupt,
		imageprep.ErrUnsupported, imageprep.ErrTooLarge} {
		if errors.Is(err, known) {
			return
		}
	}
	t.Fatalf("%s: an error the package does not name: %v", decoder, err)
}

func checkDecoded(t *testing.T, dec imageprep.Decoder, decoder string, data []byte, img *imageprep.RGB, p imageprep.Processor) {
	t.Helper()
	if img.W <= 0 || img.H <= 0 || len(img.Pix) != 3*img.W*img.H {
		t.Fatalf("%s: decoded %dx%d with %d bytes of pixels", decoder, img.W, img.H, len(img.Pix))
	}
	if px := int64(img.W) * int64(img.H); px > fuzzLimits.MaxPixels {
		t.Fatalf("%s: decoded %dx%d, %d pixels, over the limit of %d", decoder, img.W, img.H, px, fuzzLimits.MaxPixels)
	}
	_, cfg, err := imageprep.ConfigUnguarded(data)
	if err != nil {
		t.Fatalf("%s: decoded, yet the header does not read: %v", decoder, err)
	}
	if hw := image.Pt(cfg.Width, cfg.Height); image.Pt(img.W, img.H) != hw && image.Pt(img.H, img.W) != hw {
		t.Fatalf("%s: the header says %dx%d, the decoder made %dx%d", decoder, cfg.Width, cfg.Height, img.W, img.H)
	}
	if _, err := p.Pixels(img); err != nil {
		t.Fatalf("%s: decoded %dx%d but preprocessing failed: %v", decoder, img.W, img.H, err)
	}
	// Encode what was decoded, and decode that again.
	rgba := image.NewNRGBA(image.Rect(0, 0, img.W, img.H))
	for i := 0; i < img.W*img.H; i++ {
		copy(rgba.Pix[4*i:4*i+3], img.Pix[3*i:3*i+3])
		rgba.Pix[4*i+3] = 0xff
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, rgba); err != nil {
		t.Fatalf("%s: re-encoding %dx%d: %v", decoder, img.W, img.H, err)
	}
	again, err := dec.DecodeUnguarded(buf.Bytes())
	if err != nil {
		t.Fatalf("%s: decoded %dx%d, re-encoded as PNG, and that does not decode: %v", decoder, img.W, img.H, err)
	}
	if again.W != img.W || again.H != img.H || !bytes.Equal(again.Pix, img.Pix) {
		t.Fatalf("%s: decoded %dx%d, re-encoded as PNG, and that decodes to %dx%d or other pixels", decoder, img.W, img.H, again.W, again.H)
	}
	imageprep.Recycle(again)
}

package imageprep_test

import (
	"encoding/binary"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/libheif"
)

type heifManifest struct {
	Libheif string
	Cases   []struct {
		File, Golden, Note string
		Size               [2]int
	}
}

func readHEIFManifest(t *testing.T) (string, heifManifest) {
	dir := fixtures.Fixture("heif")
	var m heifManifest
	require.NoError(t, json.Unmarshal(mustRead(t, filepath.Join(dir, "manifest.json")), &m))
	require.NotEmpty(t, m.Cases)
	return dir, m
}

// requireHEIF skips (or, with $HYBRIDEMBED_REQUIRE_LIBHEIF, fails) where
// libheif cannot decode f.
func requireHEIF(t *testing.T, f imageprep.Format) {
	t.Helper()
	if err := imageprep.Available(f); err != nil {
		if os.Getenv("HYBRIDEMBED_REQUIRE_LIBHEIF") != "" && f == imageprep.HEIF {
			t.Fatalf("%v", err)
		}
		t.Skipf("skipping: %v", err)
	}
}

func formatOf(file string) imageprep.Format {
	if filepath.Ext(file) == ".avif" {
		return imageprep.AVIF
	}
	return imageprep.HEIF
}

// TestHEIFGoldens decodes every fixture (scripts/fixtures/heif.py: all
// eight irot/imir orientations on an odd size that libheif wraps in a
// grid, lossless RGB, EXIF orientation without irot, alpha, 4:4:4, 10
// bits, monochrome, AVIF) and compares it with the RGB Pillow-heif gets
// from libheif: exactly, when the library here is the one the goldens
// were made with; later versions upsample chroma differently, so then
// within a bound (TestHEIFAgainstHeifConvert is exact on any version).
func TestHEIFGoldens(t *testing.T) {
	requireHEIF(t, imageprep.HEIF)
	dir, m := readHEIFManifest(t)
	path, version := libheif.Path()
	exact := version == m.Libheif
	t.Logf("libheif %s at %s; goldens from %s (exact: %v)", version, path, m.Libheif, exact)
	for _, c := range m.Cases {
		t.Run(c.File, func(t *testing.T) {
			requireHEIF(t, formatOf(c.File))
			data := mustRead(t, filepath.Join(dir, c.File))
			f, cfg, err := imageprep.Config(data)
			require.NoError(t, err)
			assert.Equal(t, formatOf(c.File), f)
			assert.Equal(t, c.Size, [2]int{cfg.Width, cfg.Height}, "Config gives the size as shown, after rotation")
			got, err := imageprep.Decode(data, imageprep.Limits{})
			require.NoError(t, err)
			want, err := imageprep.Decode(mustRead(t, filepath.Join(dir, c.Golden)), imageprep.Limits{})
			require.NoError(t, err)
			mean, worst := diff(t, want, got)
			t.Logf("%-18s mean %.4f max %.0f  %s", c.File, mean, worst, c.Note)
			if exact {
				assert.Zero(t, worst)
			} else {
				assert.LessOrEqual(t, mean, 2.0)
				assert.LessOrEqual(t, worst, 64.0)
			}
		})
	}
}

// TestHEIFAgainstHeifConvert decodes each fixture with libheif's own
// command-line decoder (heif-dec, or heif-convert before libheif 1.17;
// Debian's libheif-examples) and requires the same pixels.
func TestHEIFAgainstHeifConvert(t *testing.T) {
	requireHEIF(t, imageprep.HEIF)
	tool, err := exec.LookPath("heif-dec")
	if err != nil {
		tool, err = exec.LookPath("heif-convert")
	}
	if err != nil {
		t.Skip("skipping: neither heif-dec nor heif-convert is installed (Debian: libheif-examples)")
	}
	dir, m := readHEIFManifest(t)
	for _, c := range m.Cases {
		t.Run(c.File, func(t *testing.T) {
			requireHEIF(t, formatOf(c.File))
			out := filepath.Join(t.TempDir(), "out.png")
			b, err := exec.Command(tool, filepath.Join(dir, c.File), out).CombinedOutput()
			require.NoError(t, err, "%s", b)
			// heif-convert copies the file's EXIF into the PNG, orientation
			// tag and all: read the pixels as stored (16-bit PNGs keep
			// their high byte, as in PIL).
			f, err := os.Open(out)
			require.NoError(t, err)
			defer f.Close()
			stored, err := png.Decode(f)
			require.NoError(t, err)
			want := imageprep.FromImage(stored)
			got, err := imageprep.Decode(mustRead(t, filepath.Join(dir, c.File)), imageprep.Limits{})
			require.NoError(t, err)
			_, worst := diff(t, want, got)
			assert.Zero(t, worst, "%s differs from %s's decoding", c.File, filepath.Base(tool))
		})
	}
}

// TestHEIFHostile: a header claiming more pixels than the limit is refused
// before any pixel is decoded; truncated and broken files are errors that
// name the problem, never crashes.
func TestHEIFHostile(t *testing.T) {
	requireHEIF(t, imageprep.HEIF)
	dir := fixtures.Fixture("heif")
	data := mustRead(t, filepath.Join(dir, "chroma_444.heic"))

	// Every ispe box (the grid's and its tile's) claims 20000x20000.
	bomb := append([]byte(nil), data...)
	n := 0
	for i := indexOf(bomb, "ispe", 0); i >= 0; i = indexOf(bomb, "ispe", i+8) {
		binary.BigEndian.PutUint32(bomb[i+12:], 20000) // width, after the box's size, type, version and flags
		binary.BigEndian.PutUint32(bomb[i+16:], 20000)
		n++
	}
	require.Positive(t, n)
	_, cfg, err := imageprep.Config(bomb)
	require.NoError(t, err)
	assert.Equal(t, 20000, cfg.Width)
	_, err = imageprep.Decode(bomb, imageprep.Limits{})
	require.ErrorIs(t, err, imageprep.ErrTooLarge)
	assert.Contains(t, err.Error(), "400000000 pixels")

	for name, b := range map[string][]byte{
		"truncated": data[:len(data)/2],
		"no boxes":  data[:40],
		"garbage":   append(append([]byte(nil), data[:32]...), make([]byte, 64)...),
	} {
		_, err := imageprep.Decode(b, imageprep.Limits{})
		require.Error(t, err, name)
		assert.ErrorIs(t, err, imageprep.ErrCorrupt, "%s: %v", name, err)
	}
}

// TestHEIFSniff: the ftyp brands say HEIF or AVIF whatever the file's name.
func TestHEIFSniff(t *testing.T) {
	box := func(major string, compat ...string) []byte {
		b := make([]byte, 16+4*len(compat))
		binary.BigEndian.PutUint32(b, uint32(len(b)))
		copy(b[4:], "ftyp"+major+"\x00\x00\x00\x00")
		for i, c := range compat {
			copy(b[16+4*i:], c)
		}
		return b
	}
	for _, c := range []struct {
		data []byte
		want imageprep.Format
		ok   bool
	}{
		{box("heic", "mif1", "heic"), imageprep.HEIF, true},
		{box("mif1", "heic"), imageprep.HEIF, true}, // iPhone: major brand mif1
		{box("mif1", "avif"), imageprep.AVIF, true},
		{box("avif", "mif1", "miaf"), imageprep.AVIF, true},
		{box("msf1", "hevc"), imageprep.HEIF, true},
		{box("mif1", "miaf"), imageprep.HEIF, true}, // generic: libheif tells the codec
		{box("isom", "mp41"), "", false},            // an MP4 video
		{box("qt  "), "", false},
	} {
		f, ok := imageprep.Sniff(c.data)
		assert.Equal(t, c.ok, ok, "%q", c.data)
		if c.ok {
			assert.Equal(t, c.want, f, "%q", c.data)
		}
	}
}

// indexOf is where the box of type typ starts (its size field), at or
// after from, or -1.
func indexOf(b []byte, typ string, from int) int {
	for i := max(from, 4); i+len(typ) <= len(b); i++ {
		if string(b[i:i+len(typ)]) == typ {
			return i - 4
		}
	}
	return -1
}

func diff(t *testing.T, want, got *imageprep.RGB) (mean, worst float64) {
	t.Helper()
	require.Equal(t, [2]int{want.W, want.H}, [2]int{got.W, got.H})
	var total float64
	for i := range want.Pix {
		d := math.Abs(float64(got.Pix[i]) - float64(want.Pix[i]))
		total += d
		worst = math.Max(worst, d)
	}
	return total / float64(len(want.Pix)), worst
}

package models_test

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/models"
	"github.com/hybridembed/hybridembed/models/modelstest"
)

// stagedReader reads a bundle for Import and, every MiB, records how many
// bytes Import has written under the cache's staging folders so far.
type stagedReader struct {
	r        io.Reader
	cacheDir string
	read     int64
	maxSeen  int64
}

func (s *stagedReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	before := s.read >> 20
	s.read += int64(n)
	if s.read>>20 != before {
		s.maxSeen = max(s.maxSeen, stagedBytes(s.cacheDir))
	}
	return n, err
}

func stagedBytes(cacheDir string) int64 {
	var total int64
	stages, _ := filepath.Glob(filepath.Join(cacheDir, ".import-*"))
	for _, st := range stages {
		_ = filepath.WalkDir(st, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if info, err := d.Info(); err == nil {
					total += info.Size()
				}
			}
			return nil
		})
	}
	return total
}

// TestBundleBombNotWritten: an entry the manifest does not list, or a blob
// longer than the manifest says, is refused at its header, before a byte
// of it reaches the disk (before: the whole entry was unpacked, and only
// then compared with the manifest, so a small compressed bundle could
// fill the disk). 8 MiB of zeros stand for the bomb.
func TestBundleBombNotWritten(t *testing.T) {
	src := models.Cache{Dir: t.TempDir()}
	modelstest.Cache(t, src.Dir, "acme/tiny-st", fixtures.Fixture("models", "tiny-st"))
	var good bytes.Buffer
	require.NoError(t, src.Export(&good, models.NoCompression, []models.BundleModel{{ID: "acme/tiny-st"}}))
	bomb := make([]byte, 8<<20)
	grown := false
	tests := []struct {
		name   string
		mutate func(h *tar.Header, data []byte) (*tar.Header, []byte)
		extra  []tarEntry
		want   string
	}{
		{"unlisted blob", nil, []tarEntry{{h: tar.Header{Typeflag: tar.TypeReg, Name: "models--acme--tiny-st/blobs/" + strings.Repeat("a", 64)}, data: bomb}}, "not in the manifest"},
		{"blob longer than listed", func(h *tar.Header, data []byte) (*tar.Header, []byte) {
			if strings.Contains(h.Name, "/blobs/") && !grown {
				grown = true
				return h, append(append([]byte{}, data...), bomb...)
			}
			return h, data
		}, nil, "the manifest says"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bundle := rewriteTar(t, good.Bytes(), tc.mutate, tc.extra)
			for _, comp := range []models.Compression{models.NoCompression, models.Zstd} {
				data := bundle
				if comp == models.Zstd {
					var z bytes.Buffer
					zw, err := zstd.NewWriter(&z)
					require.NoError(t, err)
					_, err = zw.Write(bundle)
					require.NoError(t, err)
					require.NoError(t, zw.Close())
					data = z.Bytes()
					t.Logf("%d bytes of zstd bundle unpack to %d", len(data), len(bundle))
				}
				dst := models.Cache{Dir: t.TempDir()}
				r := &stagedReader{r: bytes.NewReader(data), cacheDir: dst.Dir}
				_, err := dst.Import(r)
				require.ErrorIs(t, err, models.ErrBadBundle)
				assert.Contains(t, err.Error(), tc.want)
				assert.Less(t, r.maxSeen, int64(1<<20), "%s: bytes staged while the bundle was read", comp)
			}
		})
	}
}

// TestBundleManifestFirst: a bundle starts with its manifest; an entry
// before it is refused before it is written.
func TestBundleManifestFirst(t *testing.T) {
	src := models.Cache{Dir: t.TempDir()}
	modelstest.Cache(t, src.Dir, "acme/tiny-st", fixtures.Fixture("models", "tiny-st"))
	var good bytes.Buffer
	require.NoError(t, src.Export(&good, models.NoCompression, []models.BundleModel{{ID: "acme/tiny-st"}}))
	// Move manifest.json to the end.
	var manifest tarEntry
	rest := rewriteTar(t, good.Bytes(), func(h *tar.Header, data []byte) (*tar.Header, []byte) {
		if h.Name == "manifest.json" {
			manifest = tarEntry{h: *h, data: data}
			return &tar.Header{Typeflag: tar.TypeDir, Name: "models--acme--tiny-st/"}, nil
		}
		return h, data
	}, nil)
	bundle := rewriteTar(t, rest, nil, []tarEntry{manifest})
	dst := models.Cache{Dir: t.TempDir()}
	_, err := dst.Import(bytes.NewReader(bundle))
	require.ErrorIs(t, err, models.ErrBadBundle)
	assert.Contains(t, err.Error(), "comes before manifest.json")
	left, _ := os.ReadDir(dst.Dir)
	assert.Empty(t, left)
}

// TestBundleZstdWindow: a zstd frame asking for a window over 128 MiB
// (zstd's own default limit) is refused: the decoder keeps up to a window
// of history in memory as the data flows, and would take up to 512 MiB.
// The frame is a header asking for 256 MiB, then 1024 zeros (tar's end of
// archive).
func TestBundleZstdWindow(t *testing.T) {
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 18 << 3} // no content size; window 2^(10+18)
	frame = append(frame, 0x03, 0x20, 0x00, 0x00)          // the last block: RLE, 1024 zeros
	_, err := models.Cache{Dir: t.TempDir()}.Import(bytes.NewReader(frame))
	require.ErrorIs(t, err, models.ErrBadBundle)
	assert.Contains(t, err.Error(), "window")
}

// Package testdata locates the test data hybridembed's tests read: the
// fixtures committed under testdata/ and the shared golden data that lives
// beside the repository (../shared/testdata, or $HYBRIDEMBED_TESTDATA).
package testdata

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// EnvGolden overrides where the shared golden data is.
const EnvGolden = "HYBRIDEMBED_TESTDATA"

// Root is the repository root, found from this file's location.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Fixture is a path under the committed testdata/ directory.
func Fixture(elem ...string) string {
	return filepath.Join(append([]string{Root(), "testdata"}, elem...)...)
}

// Golden is a path under the shared golden data, skipping the test with a
// message when that data is not there (a clone outside the workspace).
func Golden(tb testing.TB, elem ...string) string {
	tb.Helper()
	dir := os.Getenv(EnvGolden)
	if dir == "" {
		dir = filepath.Join(Root(), "..", "shared", "testdata")
	}
	p := filepath.Join(append([]string{dir}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("golden data not found at %s (set %s to its directory): %v", p, EnvGolden, err)
	}
	return p
}

// BombJPEG is a JPEG header claiming 65000x65000 pixels and nothing else.
func BombJPEG() []byte {
	return []byte{0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 8, 0xfd, 0xe8, 0xfd, 0xe8, 3,
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xff, 0xd9}
}

// BombPNG is a valid 20000x20000 1-bit grayscale PNG of about 50 KB: it
// decodes, to 400 million pixels.
func BombPNG() []byte {
	const side = 20000
	var buf bytes.Buffer
	buf.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		_ = binary.Write(&buf, binary.BigEndian, uint32(len(data)))
		buf.WriteString(typ)
		buf.Write(data)
		_ = binary.Write(&buf, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], side)
	binary.BigEndian.PutUint32(ihdr[4:], side)
	ihdr[8] = 1 // bit depth 1, grayscale
	chunk("IHDR", ihdr)
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	row := make([]byte, 1+side/8)
	for i := 0; i < side; i++ {
		_, _ = zw.Write(row)
	}
	_ = zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return buf.Bytes()
}

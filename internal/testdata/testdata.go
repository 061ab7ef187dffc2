// Package testdata locates the test data hybridembed's tests read: the
// fixtures committed under testdata/ and the shared golden data that lives
// beside the repository (../shared/testdata, or $HYBRIDEMBED_TESTDATA).
package testdata

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/hybridembed/hybridembed/remote/hftest"
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
	p, err := GoldenPath(elem...)
	if err != nil {
		skipOrFail(tb, "golden data not found at %s (set %s to its directory): %v", p, EnvGolden, err)
	}
	return p
}

// GoldenPath is a path under the shared golden data, and why it is not
// there, for tests that use it where present and go on without it.
func GoldenPath(elem ...string) (string, error) {
	dir := os.Getenv(EnvGolden)
	if dir == "" {
		dir = filepath.Join(Root(), "..", "shared", "testdata")
	}
	p := filepath.Join(append([]string{dir}, elem...)...)
	_, err := os.Stat(p)
	return p, err
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

// TinySTReference is the PyTorch reference for the tiny-st fixture (mean
// pooling, then Normalize), for the emulated router to serve.
func TinySTReference(tb testing.TB) *hftest.Reference {
	tb.Helper()
	ref, err := hftest.LoadReference(Fixture("golden", "tiny-st.json"), "mean")
	if err != nil {
		tb.Fatal(err)
	}
	return ref
}

// EnvStrict, set to 1 (make test does), turns the skips for absent shared
// goldens and unavailable Node.js clients into failures.
const EnvStrict = "HYBRIDEMBED_TEST_STRICT"

func skipOrFail(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv(EnvStrict) == "1" {
		tb.Fatalf(format+" ("+EnvStrict+"=1 makes this a failure)", args...)
	}
	tb.Skipf(format, args...)
}

var nodeClients struct {
	once sync.Once
	dir  string
	err  error
}

// NodeClients installs the official Node.js clients (scripts/clients) once
// per test binary and returns their directory; without node and npm the
// test is skipped with a message.
func NodeClients(tb testing.TB) string {
	tb.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		skipOrFail(tb, "node is not installed: the official Node.js clients cannot be run")
	}
	nodeClients.once.Do(func() {
		out, err := exec.Command(filepath.Join(Root(), "scripts", "install-test-clients.sh")).Output()
		lines := strings.Fields(strings.TrimSpace(string(out)))
		if err != nil || len(lines) == 0 {
			nodeClients.err = fmt.Errorf("scripts/install-test-clients.sh: %v", err)
			return
		}
		nodeClients.dir = lines[len(lines)-1]
	})
	if nodeClients.err != nil {
		skipOrFail(tb, "the Node.js test clients could not be installed: %v", nodeClients.err)
	}
	return nodeClients.dir
}

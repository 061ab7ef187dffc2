// Package testdata locates the test data hybridembed's tests read: the
// fixtures committed under testdata/ and the shared golden data that lives
// beside the repository (../shared/testdata, or $HYBRIDEMBED_TESTDATA).
package testdata

import (
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

//go:build cgo

package ort

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/models/layout"
)

// TestReadInfoNewVersion: what ReadInfo keeps of a graph is for that
// version of the file only; a graph replaced by another is read again,
// by ReadInfo and by NewSession.
func TestReadInfoNewVersion(t *testing.T) {
	if _, err := Init(Config{CacheDir: layout.HomeDir(), Prefer: DeviceCPU}); err != nil {
		if os.Getenv("HYBRIDEMBED_REQUIRE_ORT") != "" {
			t.Fatal(err)
		}
		t.Skipf("skipping: %v", err)
	}
	path := filepath.Join(t.TempDir(), "chain.onnx")
	require.NoError(t, os.WriteFile(path, addChain(1, 4), 0o644))
	in, out, err := ReadInfo(path)
	require.NoError(t, err)
	require.Equal(t, []int64{4}, in[0].Shape)
	require.Equal(t, []int64{4}, out[0].Shape)
	in[0].Shape[0] = 99 // the caller's copy

	in, _, err = ReadInfo(path)
	require.NoError(t, err)
	require.Equal(t, []int64{4}, in[0].Shape)

	require.NoError(t, os.WriteFile(path, addChain(1, 8), 0o644))
	later := time.Now().Add(time.Second)
	require.NoError(t, os.Chtimes(path, later, later))
	in, _, err = ReadInfo(path)
	require.NoError(t, err)
	require.Equal(t, []int64{8}, in[0].Shape)
	s, err := NewSession(path, []string{"x"}, []string{"y"}, SessionOptions{Threads: 1, Device: DeviceCPU})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, []int64{8}, s.Inputs()[0].Shape)

	require.NoError(t, os.WriteFile(path, []byte("not a model"), 0o644))
	_, _, err = ReadInfo(path)
	require.ErrorContains(t, err, "not a usable ONNX model")
}

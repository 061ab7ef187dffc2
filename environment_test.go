package hybridembed_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

// TestWithoutEnvironmentIgnoresEveryVariable: with WithoutEnvironment, an
// unusable $ONNXRUNTIME_LIB (an error otherwise), a $TURBOJPEG_LIB, a
// $HYBRIDEMBED_CACHE, offline, router and Hub settings are all ignored: the
// defaults stand in. It runs in a child process, since ONNX Runtime and
// libjpeg-turbo load once per process.
func TestWithoutEnvironmentIgnoresEveryVariable(t *testing.T) {
	if os.Getenv("HYBRIDEMBED_ENV_CHILD") != "" {
		withoutEnvironmentChild(t)
		return
	}
	orttest.Init(t) // the default cache (~/.cache/hybridembed) has a runtime
	home, err := os.UserHomeDir()
	require.NoError(t, err)
	cache := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWithoutEnvironmentIgnoresEveryVariable$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "HYBRIDEMBED_ENV_CHILD=1",
		"ONNXRUNTIME_LIB="+filepath.Join(t.TempDir(), "nope", "libonnxruntime.so"),
		"TURBOJPEG_LIB="+filepath.Join(t.TempDir(), "nope", "libturbojpeg.so.0"),
		"HYBRIDEMBED_CACHE="+cache, "XDG_CACHE_HOME="+t.TempDir(),
		"HF_HUB_OFFLINE=1", "HF_ENDPOINT=http://127.0.0.1:1", "HYBRIDEMBED_ROUTER_URL=http://127.0.0.1:1",
		"HF_HUB_CACHE="+t.TempDir(), "HF_HOME="+t.TempDir(), "HF_TOKEN=hf_from_env", "HF_HUB_ETAG_TIMEOUT=0.001",
		"HOME="+home)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS", "%s", out)
	entries, _ := os.ReadDir(cache)
	assert.Empty(t, entries, "$HYBRIDEMBED_CACHE was written to")
}

func withoutEnvironmentChild(t *testing.T) {
	e, err := hybridembed.New(hybridembed.WithoutEnvironment())
	require.NoError(t, err)
	defer e.Close()
	s := e.Settings()
	home, _ := os.UserHomeDir()
	assert.False(t, s.Offline, "$HF_HUB_OFFLINE")
	assert.False(t, s.Token, "$HF_TOKEN")
	assert.Equal(t, "https://router.huggingface.co", s.RouterURL)
	assert.Equal(t, "https://huggingface.co", s.HubURL)
	assert.Equal(t, filepath.Join(home, ".cache", "huggingface", "hub"), s.HubCache)
	// $ONNXRUNTIME_LIB names no library: honoured, it is an error; here the
	// runtime comes from the default cache.
	vecs, err := e.EmbedImages(context.Background(), tinyClip, images(1))
	require.NoError(t, err)
	require.Len(t, vecs, 1)
	assert.NotEmpty(t, vecs[0].Vector)
}

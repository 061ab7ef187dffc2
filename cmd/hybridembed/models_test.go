package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/remote/hftest"
)

// TestAirGapRoundTrip: pull on a connected machine (through a cut
// connection), verify, export; import on an empty machine; offline vectors
// are identical.
func TestAirGapRoundTrip(t *testing.T) {
	s, _ := online(t)
	s.Host(t, "Xenova/clip-vit-base-patch32", fixtures.Fixture("models", "tiny-clip"))
	s.InjectDownload("Xenova/clip-vit-base-patch32", hftest.Fault{Kind: hftest.ResetMidBody})

	pull := runCLI(t, "", "models", "pull", "openai/clip-vit-base-patch32")
	require.Equal(t, exitOK, pull.code, pull.stderr)
	assert.Contains(t, pull.stdout, "models--Xenova--clip-vit-base-patch32/snapshots/")
	assert.Contains(t, pull.stderr, "onnx/vision_model.onnx")

	verify := runCLI(t, "", "models", "verify", "openai/clip-vit-base-patch32")
	require.Equal(t, exitOK, verify.code, verify.stderr)
	assert.NotContains(t, verify.stdout, "corrupt")

	images := fixtures.Fixture("images")
	before := runCLI(t, "", "embed", "--offline", "--model", "openai/clip-vit-base-patch32", images)
	require.Equal(t, exitOK, before.code, before.stderr)

	bundle := filepath.Join(t.TempDir(), "models.tar.zst")
	exp := runCLI(t, "", "models", "export", bundle, "openai/clip-vit-base-patch32")
	require.Equal(t, exitOK, exp.code, exp.stderr)

	// The air-gapped side: empty HF_HOME, no network at all.
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "1")
	t.Setenv("HYBRIDEMBED_ROUTER_URL", "http://127.0.0.1:1")
	t.Setenv("HF_ENDPOINT", "http://127.0.0.1:1")
	imp := runCLI(t, "", "models", "import", bundle)
	require.Equal(t, exitOK, imp.code, imp.stderr)
	assert.Contains(t, imp.stdout, "imported openai/clip-vit-base-patch32")
	after := runCLI(t, "", "embed", "--model", "openai/clip-vit-base-patch32", images)
	require.Equal(t, exitOK, after.code, after.stderr)
	assert.Equal(t, before.stdout, after.stdout, "identical vectors after the round trip")

	list := runCLI(t, "", "models", "list")
	assert.Contains(t, list.stdout, "Xenova/clip-vit-base-patch32")
	assert.Contains(t, list.stdout, "openai/clip-vit-base-patch32")

	// A flipped byte is found, and named.
	dir := strings.TrimSpace(runCLI(t, "", "models", "path", "openai/clip-vit-base-patch32").stdout)
	blob, err := filepath.EvalSymlinks(filepath.Join(dir, "onnx", "text_model.onnx"))
	require.NoError(t, err)
	data, _ := os.ReadFile(blob)
	data[1000] ^= 0x80
	require.NoError(t, os.WriteFile(blob, data, 0o644))
	verify = runCLI(t, "", "models", "verify", "openai/clip-vit-base-patch32")
	assert.Equal(t, exitPartial, verify.code)
	assert.Regexp(t, `corrupt\s+onnx/text_model.onnx`, verify.stdout)
	assert.Contains(t, verify.stderr, "checksum mismatch")

	rm := runCLI(t, "", "models", "rm", "--yes", "openai/clip-vit-base-patch32")
	require.Equal(t, exitOK, rm.code, rm.stderr)
	missing := runCLI(t, "", "text", "--model", "openai/clip-vit-base-patch32", "x")
	assert.Equal(t, exitFatal, missing.code)
	assert.Contains(t, missing.stderr, "hybridembed models pull openai/clip-vit-base-patch32")

	pullOffline := runCLI(t, "", "models", "pull", "openai/clip-vit-base-patch32")
	assert.Equal(t, exitFatal, pullOffline.code)
	assert.Contains(t, pullOffline.stderr, "offline")
}

// TestImportRefusesTraversal: a bundle with ../ paths writes nothing.
func TestImportRefusesTraversal(t *testing.T) {
	isolate(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct{ name, body string }{
		{"manifest.json", `{"format":"hybridembed-bundle","version":1,"models":[]}`},
		{"models--acme--x/blobs/../../../../tmp/pwned", "gotcha"},
	} {
		require.NoError(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.body)), Mode: 0o644}))
		_, _ = tw.Write([]byte(e.body))
	}
	require.NoError(t, tw.Close())
	bundle := filepath.Join(t.TempDir(), "evil.tar")
	require.NoError(t, os.WriteFile(bundle, buf.Bytes(), 0o644))

	r := runCLI(t, "", "models", "import", bundle)
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, "path traversal")
	assert.Contains(t, r.stderr, "nothing was added")
	hub := filepath.Join(os.Getenv("HF_HOME"), "hub")
	left, _ := os.ReadDir(hub)
	assert.Empty(t, left)
	_, err := os.Stat("/tmp/pwned")
	assert.True(t, os.IsNotExist(err))
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
)

// copyModel copies a fixture model directory, so a test may edit it.
func copyModel(t *testing.T, name string) string {
	t.Helper()
	src := fixtures.Fixture("models", name)
	dst := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
	return dst
}

// editPreprocessor changes a model's normalisation constants, as a user
// fixing a wrong preprocessor_config.json would.
func editPreprocessor(t *testing.T, model string) {
	t.Helper()
	path := filepath.Join(model, "preprocessor_config.json")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(data, &cfg))
	cfg["image_mean"] = []float64{0.5, 0.5, 0.5}
	cfg["image_std"] = []float64{0.5, 0.5, 0.5}
	data, err = json.MarshalIndent(cfg, "", " ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

// topHit searches lib for an image and returns the best hit.
func topHit(t *testing.T, model, lib, img string) hit {
	t.Helper()
	r := runCLI(t, "", "search", "--model", model, "--json", "--no-update", "--image", img, lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	var sl searchLine
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &sl))
	require.NotEmpty(t, sl.Results)
	return sl.Results[0]
}

// TestIndexReembedsAfterPreprocessorEdit: after preprocessor_config.json of
// a directory model is edited, its vectors are those of another model: the
// index embeds the library again, and an image finds itself. (The identity
// used to cover the .onnx files alone, and the index kept the old vectors.)
func TestIndexReembedsAfterPreprocessorEdit(t *testing.T) {
	isolate(t)
	model := copyModel(t, "tiny-clip")
	lib := sampleLibrary(t)
	r := runCLI(t, "", "index", "--model", model, lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "4 embedded")

	editPreprocessor(t, model)
	r = runCLI(t, "", "index", "--model", model, lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "4 embedded", "the edited model's vectors are computed")

	img := filepath.Join(lib, "green_triangle.jpg")
	hit := topHit(t, model, lib, img)
	assert.Equal(t, img, hit.Path)
	assert.InDelta(t, 1, hit.Score, 1e-5, "an image finds itself")

	// So does --decode fast, which changes JPEG pixels.
	r = runCLI(t, "", "index", "--model", model, "--decode", "fast", lib)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "4 embedded", "--decode fast is another identity")
}

// TestDatasetResumeRefusesOtherModel: a dataset resumed with a model whose
// preprocessor_config.json was edited, or with another decode mode, is
// refused, saying what differs; nothing is written. An import into an index
// is refused likewise.
func TestDatasetResumeRefusesOtherModel(t *testing.T) {
	isolate(t)
	model := copyModel(t, "tiny-clip")
	lib := t.TempDir()
	makeImages(t, lib, 6)
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"embed", "--format", "parquet", "-o", out, "--model", model, lib}
	r := runCLI(t, "", args...)
	require.Equal(t, exitPartial, r.code, r.stderr)
	before := chunkSums(t, out)
	manifest := mustRead(t, filepath.Join(out, "_manifest-00000-of-00001.json"))

	r = runCLI(t, "", append([]string{"--decode", "fast"}, args...)...)
	assert.Equal(t, exitFatal, r.code, r.stderr)
	assert.Contains(t, r.stderr, "decode")

	editPreprocessor(t, model)
	r = runCLI(t, "", args...)
	assert.Equal(t, exitFatal, r.code, r.stderr)
	assert.Contains(t, r.stderr, "preprocessor_config.json")
	assert.Contains(t, r.stderr, "another folder")
	assert.NotContains(t, r.stderr, "rerun the same command", "rerunning would be refused again")
	assert.Equal(t, before, chunkSums(t, out))
	assert.Equal(t, manifest, mustRead(t, filepath.Join(out, "_manifest-00000-of-00001.json")))

	// Nor is it imported into an index as the edited model's.
	r = runCLI(t, "", "index", "import", "--model", model, out, lib)
	assert.Equal(t, exitFatal, r.code, r.stderr)
	assert.Contains(t, r.stderr, "preprocessor_config.json changed")
}

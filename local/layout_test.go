package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/localtest"
)

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
	require.NoError(t, os.WriteFile(dst, data, 0o644))
}

// layoutDir builds a model directory from tiny-clip's files: files maps a
// path in the new directory to a path under testdata/models/tiny-clip.
func layoutDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for dst, src := range files {
		copyFile(t, fixtures.Fixture("models", "tiny-clip", src), filepath.Join(dir, dst))
	}
	return dir
}

var tinyConfigs = map[string]string{
	"config.json":              "config.json",
	"preprocessor_config.json": "preprocessor_config.json",
	"tokenizer.json":           "tokenizer.json",
	"tokenizer_config.json":    "tokenizer_config.json",
}

func with(extra map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range tinyConfigs {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// TestSingleTowerLayouts: fastembed-style repos hold one tower as model.onnx;
// the graph's inputs say which.
func TestSingleTowerLayouts(t *testing.T) {
	g := readGolden(t, "tiny-clip")
	e := localtest.Engine(t, local.Options{})

	vision, err := e.Load(layoutDir(t, with(map[string]string{"model.onnx": "onnx/vision_model.onnx"})), "")
	require.NoError(t, err)
	assert.True(t, vision.HasImages())
	assert.False(t, vision.HasText())
	vecs, errs := embedFiles(t, vision, fixtures.Fixture("images", "red_circle.png"))
	require.NoError(t, errs[0])
	assert.LessOrEqual(t, maxAbsDiff(vecs[0], g.Images[2].ImageEmbeds), 1e-5)
	_, err = vision.EmbedTexts(context.Background(), []string{"x"})
	assert.ErrorIs(t, err, local.ErrNoTextTower)

	text, err := e.Load(layoutDir(t, with(map[string]string{"onnx/model.onnx": "onnx/text_model.onnx"})), "")
	require.NoError(t, err)
	assert.True(t, text.HasText())
	assert.False(t, text.HasImages())
	res, err := text.EmbedTexts(context.Background(), []string{g.Text[0].Text})
	require.NoError(t, err)
	assert.LessOrEqual(t, maxAbsDiff(res[0].Vector, g.Text[0].TextEmbeds), 1e-5)
	err = text.EmbedImages(context.Background(), nil, nil)
	assert.ErrorIs(t, err, local.ErrNoVisionTower)
}

func TestVariants(t *testing.T) {
	g := readGolden(t, "tiny-clip")
	for _, v := range []struct {
		variant string
		minCos  float64
	}{{"", 0.99999}, {"fp32", 0.99999}, {"quantized", 0.99}, {"fp16", 0.999}} {
		t.Run("variant="+v.variant, func(t *testing.T) {
			e := localtest.Engine(t, local.Options{})
			m, err := e.Load(fixtures.Fixture("models", "tiny-clip"), v.variant)
			require.NoError(t, err)
			vecs, errs := embedFiles(t, m, fixtures.Fixture("images", "red_circle.png"))
			require.NoError(t, errs[0])
			c := cosine(vecs[0], g.Images[2].ImageEmbeds)
			t.Logf("variant %q: cosine to fp32 PyTorch %.6f", v.variant, c)
			assert.GreaterOrEqual(t, c, v.minCos)
		})
	}

	// tiny-clip has no text_model_fp16.onnx, but has a vision one: the
	// model loads, with images only.
	e := localtest.Engine(t, local.Options{})
	m, err := e.Load(fixtures.Fixture("models", "tiny-clip"), "fp16")
	require.NoError(t, err)
	assert.False(t, m.HasText())

	_, err = e.Load(fixtures.Fixture("models", "tiny-clip"), "q4")
	var le *local.LayoutError
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, err, local.ErrUnknownLayout)
	assert.Contains(t, err.Error(), `variant "q4"`)
	assert.Contains(t, err.Error(), "variants: fp16, fp32, quantized")
}

func TestUnknownLayouts(t *testing.T) {
	e := localtest.Engine(t, local.Options{})
	tests := []struct {
		name  string
		setup func(dir string)
		want  []string
	}{
		{"empty", func(string) {}, []string{"onnx/text_model.onnx", "onnx/vision_model.onnx", "model.onnx"}},
		{"other onnx names", func(dir string) {
			copyFile(t, fixtures.Fixture("models", "tiny-clip", "onnx", "vision_model.onnx"), filepath.Join(dir, "encoder.onnx"))
		}, []string{"the directory has encoder.onnx"}},
		{"not onnx", func(dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "model.onnx"), []byte("<html>404</html>"), 0o644))
		}, []string{"model.onnx", "not a usable ONNX model"}},
		{"truncated onnx", func(dir string) {
			data, err := os.ReadFile(fixtures.Fixture("models", "tiny-clip", "onnx", "vision_model.onnx"))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "model.onnx"), data[:len(data)/3], 0o644))
		}, []string{"model.onnx", "not a usable ONNX model"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(dir)
			_, err := e.Load(dir, "")
			require.Error(t, err)
			assert.Contains(t, err.Error(), dir)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}

	_, err := e.Load(filepath.Join(t.TempDir(), "missing"), "")
	assert.True(t, errors.Is(err, os.ErrNotExist))
}

// TestPreprocessorMismatch: a preprocessor_config.json that does not fit
// the graph is refused when the model loads, not at the first image.
func TestPreprocessorMismatch(t *testing.T) {
	dir := layoutDir(t, with(map[string]string{"onnx/vision_model.onnx": "onnx/vision_model.onnx"}))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), []byte(`{"size": 336, "crop_size": 336}`), 0o644))
	e := localtest.Engine(t, local.Options{})
	_, err := e.Load(dir, "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "produces 336x336 images but vision_model.onnx takes 224x224")
}

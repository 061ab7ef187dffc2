package hybridembed_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/localtest"
)

func infoOf(t *testing.T, dir string, opts ...hybridembed.Option) hybridembed.ModelInfo {
	t.Helper()
	m, err := newEmbedder(t, opts...).Model(context.Background(), dir)
	require.NoError(t, err)
	return m.Info()
}

// TestModelKey: every file the vectors depend on, and every setting that
// changes them, changes the model's Key, and Diff names what changed; a
// copy of the same files elsewhere has the same Key.
func TestModelKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tiny-clip")
	require.NoError(t, os.CopyFS(dir, os.DirFS(tinyClip)))
	localtest.ExternalWeights(t, filepath.Join(tinyClip, "onnx", "vision_model.onnx"), filepath.Join(dir, "onnx", "vision_model.onnx"), "vision_model.onnx_data")
	base := infoOf(t, dir)
	require.Len(t, base.Key(), 64)
	assert.Equal(t, hybridembed.DecodeExact, base.Decode)
	assert.True(t, base.Normalized)
	assert.Contains(t, base.Files, "onnx/vision_model.onnx_data")
	assert.Contains(t, base.Files, "preprocessor_config.json")
	assert.Empty(t, base.Diff(base))

	copied := filepath.Join(t.TempDir(), "elsewhere")
	require.NoError(t, os.CopyFS(copied, os.DirFS(dir)))
	assert.Equal(t, base.Key(), infoOf(t, copied).Key(), "the same files at another path")

	for _, c := range []struct {
		opt  hybridembed.Option
		diff string
	}{
		{hybridembed.WithDecode(hybridembed.DecodeFast), "decode mode exact then, fast now"},
		{hybridembed.WithNormalize(false), "normalisation on then, off now"},
		{hybridembed.WithVariant("quantized"), "variant fp32 then, quantized now"},
	} {
		other := infoOf(t, dir, c.opt)
		assert.NotEqual(t, base.Key(), other.Key(), c.diff)
		assert.Contains(t, other.Diff(base), c.diff)
	}

	for _, f := range []string{"preprocessor_config.json", "config.json", "tokenizer.json", "tokenizer_config.json",
		"onnx/vision_model.onnx_data", "onnx/text_model.onnx"} {
		t.Run(f, func(t *testing.T) {
			p := filepath.Join(dir, filepath.FromSlash(f))
			orig, err := os.ReadFile(p)
			require.NoError(t, err)
			time.Sleep(10 * time.Millisecond) // a new mtime for the hash memo
			edited := append([]byte(nil), orig...)
			if filepath.Ext(f) == ".json" {
				edited = append(edited, '\n')
			} else {
				edited[len(edited)-1] ^= 1
			}
			require.NoError(t, os.WriteFile(p, edited, 0o644))
			defer os.WriteFile(p, orig, 0o644)
			now := infoOf(t, dir)
			assert.NotEqual(t, base.Key(), now.Key())
			assert.Equal(t, []string{f + " changed"}, now.Diff(base))
		})
	}

	extra := filepath.Join(dir, "modules.json")
	require.NoError(t, os.WriteFile(extra, []byte(`[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"}]`), 0o644))
	assert.Equal(t, []string{"modules.json added"}, infoOf(t, dir).Diff(base))
	require.NoError(t, os.Remove(extra))
	assert.Equal(t, base.Key(), infoOf(t, dir).Key(), "back as it was")
}

// TestModelKeyTextOnly: the decode mode is no part of a text model's
// identity; its pooling config is.
func TestModelKeyTextOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tiny-st")
	require.NoError(t, os.CopyFS(dir, os.DirFS(fixtures.Fixture("models", "tiny-st"))))
	base := infoOf(t, dir)
	assert.Empty(t, base.Decode)
	assert.Equal(t, base.Key(), infoOf(t, dir, hybridembed.WithDecode(hybridembed.DecodeFast)).Key())
	assert.Contains(t, base.Files, "1_Pooling/config.json")
	time.Sleep(10 * time.Millisecond)
	pooling := filepath.Join(dir, "1_Pooling", "config.json")
	data, err := os.ReadFile(pooling)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(pooling, append(data, ' '), 0o644))
	assert.Equal(t, []string{"1_Pooling/config.json changed"}, infoOf(t, dir).Diff(base))
}

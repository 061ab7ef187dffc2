package models_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/models"
	"github.com/hybridembed/hybridembed/models/layout"
)

// TestPullFamilies: the registry's SigLIP ids resolve to their ONNX repos
// with the variant asked for; an immich repo is pulled as immich's own
// downloader takes it (its config, everything directly in visual/ and
// textual/, weights beside a graph included, but not other formats'
// graphs), and an immich repo that is not in the registry too.
func TestPullFamilies(t *testing.T) {
	s, _, d := newHub(t)
	s.Host(t, "Xenova/siglip-base-patch16-224", fixtures.Fixture("models", "tiny-siglip"))
	loc, err := d.Pull(context.Background(), "google/siglip-base-patch16-224", models.PullOptions{Variant: "fp16"})
	require.NoError(t, err)
	assert.Equal(t, "Xenova/siglip-base-patch16-224", loc.Repo)
	for _, f := range []string{"onnx/text_model_fp16.onnx", "onnx/vision_model_fp16.onnx", "tokenizer.json", "tokenizer_config.json", "preprocessor_config.json", "config.json"} {
		assert.FileExists(t, filepath.Join(loc.Dir, filepath.FromSlash(f)))
	}
	assert.NoFileExists(t, filepath.Join(loc.Dir, "onnx", "text_model.onnx"), "only the variant asked for")

	// An immich repo with the extras its real repos carry: external weights
	// with names of their own, and ARM NN and RKNN graphs in subfolders.
	src := filepath.Join(t.TempDir(), "immich")
	require.NoError(t, os.CopyFS(src, os.DirFS(fixtures.Fixture("models", "immich-clip"))))
	require.NoError(t, os.WriteFile(filepath.Join(src, "textual", "embeddings_weight"), []byte("weights beside the graph"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(src, "textual", "fp16"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "textual", "fp16", "model.armnn"), []byte("armnn"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "visual", "model.rknn"), []byte("rknn"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "README.md"), []byte("# immich"), 0o644))
	for _, repo := range []string{"immich-app/ViT-B-32__openai", "immich-app/ViT-B-16-plus-240__laion400m_e31"} {
		s.Host(t, repo, src)
		loc, err := d.Pull(context.Background(), repo, models.PullOptions{})
		require.NoError(t, err, repo)
		assert.Equal(t, repo, loc.Repo)
		for _, f := range []string{"config.json", layout.ImmichVisual, "visual/preprocess_cfg.json", layout.ImmichTextual,
			"textual/tokenizer.json", "textual/tokenizer_config.json", "textual/special_tokens_map.json", "textual/embeddings_weight"} {
			assert.FileExists(t, filepath.Join(loc.Dir, filepath.FromSlash(f)), "%s: %s", repo, f)
		}
		for _, f := range []string{"textual/fp16/model.armnn", "visual/model.rknn", "README.md"} {
			assert.NoFileExists(t, filepath.Join(loc.Dir, filepath.FromSlash(f)), "%s: %s", repo, f)
		}
	}
	e, ok := models.Lookup("immich-app/XLM-Roberta-Large-Vit-B-32")
	require.True(t, ok)
	assert.Equal(t, layout.FamilyMCLIP, e.Family)
	e, ok = models.Lookup("google/siglip2-base-patch16-224")
	require.True(t, ok)
	assert.Equal(t, "onnx-community/siglip2-base-patch16-224-ONNX", e.Repo)
	assert.Equal(t, layout.FamilySigLIP2, e.Family)
}

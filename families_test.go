package hybridembed_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
)

// TestFamilyInInfo: a model's handle says its family and layout, and the
// family is part of its identity: the same graph files read as another
// family (a tokenizer_config.json that now names SigLIP 2's Gemma
// tokenizer) get another digest, so their vectors are never mixed in an
// index or a dataset.
func TestFamilyInInfo(t *testing.T) {
	e := newEmbedder(t)
	ctx := context.Background()
	for name, want := range map[string][2]string{
		"tiny-clip": {"clip", "transformers.js"}, "tiny-clip-joint": {"clip", "model.onnx"}, "tiny-st": {"sentence", "transformers.js"},
		"tiny-siglip": {"siglip", "transformers.js"}, "tiny-siglip2": {"siglip2", "transformers.js"},
		"immich-clip": {"clip", "immich"}, "immich-siglip2": {"siglip2", "immich"}, "immich-mclip": {"mclip", "immich"},
	} {
		m, err := e.Model(ctx, fixtures.Fixture("models", name))
		require.NoError(t, err, name)
		assert.Equal(t, want[0], m.Info().Family, name)
		if name != "tiny-st" {
			assert.Equal(t, want[1], m.Info().Layout, name)
		}
	}

	dir := filepath.Join(t.TempDir(), "m")
	require.NoError(t, os.CopyFS(dir, os.DirFS(fixtures.Fixture("models", "tiny-siglip"))))
	before, err := e.Model(ctx, dir)
	require.NoError(t, err)
	path := filepath.Join(dir, "tokenizer_config.json")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(data, &cfg))
	cfg["tokenizer_class"] = "GemmaTokenizerFast"
	data, err = json.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o644))
	after, err := e.Model(ctx, dir)
	require.NoError(t, err)
	assert.Equal(t, "siglip", before.Info().Family)
	assert.Equal(t, "siglip2", after.Info().Family)
	assert.NotEqual(t, before.Info().Digest, after.Info().Digest, "the family is part of the identity")

	d, err := e.Resolve(ctx, fixtures.Fixture("models", "immich-siglip2"), hybridembed.ModalityText)
	require.NoError(t, err)
	assert.Equal(t, "siglip2", d.Evidence.Family)
	assert.Equal(t, hybridembed.BackendLocal, d.Backend)
}

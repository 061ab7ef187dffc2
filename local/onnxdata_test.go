package local_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/localtest"
)

// externalModel is tiny-clip with its vision tower's weights in a file of
// their own, under a name no layout convention knows.
func externalModel(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny-clip")
	require.NoError(t, os.CopyFS(dir, os.DirFS(fixtures.Fixture("models", "tiny-clip"))))
	graph := filepath.Join(dir, "onnx", "vision_model.onnx")
	localtest.ExternalWeights(t, fixtures.Fixture("models", "tiny-clip", "onnx", "vision_model.onnx"), graph, "vision weights.bin")
	return dir
}

// TestExternalData: the files a graph keeps its tensors in are found from
// the graph itself, and ONNX Runtime reads them where we say it does: the
// model gives the vectors of the original.
func TestExternalData(t *testing.T) {
	dir := externalModel(t)
	weights := filepath.Join(dir, "onnx", "vision weights.bin")
	got, err := local.ExternalData(filepath.Join(dir, "onnx", "vision_model.onnx"))
	require.NoError(t, err)
	assert.Equal(t, []string{weights}, got)
	got, err = local.ExternalData(fixtures.Fixture("models", "tiny-clip", "onnx", "vision_model.onnx"))
	require.NoError(t, err)
	assert.Empty(t, got, "a graph with its weights inside")

	d, err := local.Describe(dir, "")
	require.NoError(t, err)
	assert.Contains(t, d.Files, weights)

	e := localtest.Engine(t, local.Options{})
	orig, err := e.Load(fixtures.Fixture("models", "tiny-clip"), "")
	require.NoError(t, err)
	ext, err := e.Load(dir, "")
	require.NoError(t, err)
	img := fixtures.Fixture("images", "red_circle.png")
	want, errs := embedFiles(t, orig, img)
	require.NoError(t, errs[0])
	have, errs := embedFiles(t, ext, img)
	require.NoError(t, errs[0])
	assert.InDeltaSlice(t, want[0], have[0], 1e-6)

	// Without its weights the tower does not load; the rest is described.
	require.NoError(t, os.Remove(weights))
	d, err = local.Describe(dir, "")
	require.NoError(t, err)
	assert.NotContains(t, d.Files, weights)
	_, err = localtest.Engine(t, local.Options{}).Load(dir, "")
	assert.Error(t, err)
}

// TestExternalDataMalformed: a graph cut short or with lengths past its end
// is an error, never a panic or a hang.
func TestExternalDataMalformed(t *testing.T) {
	data, err := os.ReadFile(fixtures.Fixture("models", "tiny-clip", "onnx", "vision_model.onnx"))
	require.NoError(t, err)
	dir := t.TempDir()
	for name, b := range map[string][]byte{
		"cut":      data[:len(data)/2],
		"length":   {0x3a, 0xff, 0xff, 0xff, 0x0f}, // graph: 4 GiB
		"group":    {0x0b},                         // wire type 3
		"varint":   {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"overflow": {0x3a, 0x02, 0x0a, 0x05}, // a node longer than its graph
	} {
		p := filepath.Join(dir, name+".onnx")
		require.NoError(t, os.WriteFile(p, b, 0o644))
		_, err := local.ExternalData(p)
		assert.Error(t, err, name)
	}
	// Deep nesting: graph -> node -> attribute -> graph ... is bounded.
	var b []byte
	for range 200 { // graph.node(1) { node.attribute(5) { attribute.g(6) { b } } }
		b = appendLen(nil, 0x0a, appendLen(nil, 0x2a, appendLen(nil, 0x32, b)))
	}
	p := filepath.Join(dir, "deep.onnx")
	require.NoError(t, os.WriteFile(p, appendLen(nil, 0x3a, b), 0o644))
	_, err = local.ExternalData(p)
	assert.ErrorContains(t, err, "nested")
}

func appendLen(b []byte, tag byte, v []byte) []byte {
	b = append(b, tag)
	n := uint64(len(v))
	for n >= 0x80 {
		b = append(b, byte(n)|0x80)
		n >>= 7
	}
	return append(append(b, byte(n)), v...)
}

// TestDescribeFiles: every file the engine reads for a model is among the
// files its vectors depend on, and nothing it does not read.
func TestDescribeFiles(t *testing.T) {
	for name, want := range map[string][]string{
		"tiny-clip": {"onnx/text_model.onnx", "onnx/vision_model.onnx", "config.json", "preprocessor_config.json",
			"tokenizer.json", "tokenizer_config.json"},
		"tiny-clip-joint": {"model.onnx", "config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"},
		"tiny-st": {"onnx/model.onnx", "config.json", "tokenizer.json", "tokenizer_config.json", "modules.json",
			"sentence_bert_config.json", "1_Pooling/config.json"},
	} {
		dir := fixtures.Fixture("models", name)
		d, err := local.Describe(dir, "")
		require.NoError(t, err, name)
		var got []string
		for _, f := range d.Files {
			rel, err := filepath.Rel(dir, f)
			require.NoError(t, err)
			got = append(got, filepath.ToSlash(rel))
		}
		assert.ElementsMatch(t, want, got, name)
	}
}

package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/localtest"
	"github.com/hybridembed/hybridembed/models/layout"
)

// familyGolden is what scripts/fixtures/families.py writes: every text's
// reference token ids (sentencepiece, or CLIP's BPE) and each text's and
// image's L2-normalised vector from the PyTorch model.
type familyGolden struct {
	Model     string `json:"model"`
	MaxLength int    `json:"max_length"`
	PadID     int    `json:"pad_id"`
	Texts     []struct {
		Text      string    `json:"text"`
		InputIDs  []int     `json:"input_ids"`
		Embedding []float32 `json:"embedding"`
	} `json:"texts"`
	Images []struct {
		File      string    `json:"file"`
		Embedding []float32 `json:"embedding"`
	} `json:"images"`
}

func readFamilyGolden(t *testing.T, name string) familyGolden {
	t.Helper()
	raw, err := os.ReadFile(fixtures.Fixture("golden", name+".json"))
	require.NoError(t, err)
	var g familyGolden
	require.NoError(t, json.Unmarshal(raw, &g))
	require.NotEmpty(t, g.Texts)
	require.NotEmpty(t, g.Images)
	return g
}

// familyCases are the family fixtures: the model directory, the variant,
// and what its files must be read as.
var familyCases = []struct {
	name, golden, variant string
	family                local.Family
	layout                layout.Kind
	// minCos is the parity asked of the variant: 0.99999 for fp32 graphs
	// (the bar); a quantized or fp16 graph is checked against the
	// fp32 reference only for being that variant of it.
	minCos float64
}{
	{"tiny-siglip", "tiny-siglip", "", local.FamilySigLIP, layout.KindTowers, 0.99999},
	{"tiny-siglip", "tiny-siglip", "fp16", local.FamilySigLIP, layout.KindTowers, 0.999},
	{"tiny-siglip", "tiny-siglip", "quantized", local.FamilySigLIP, layout.KindTowers, 0.98},
	{"tiny-siglip2", "tiny-siglip2", "", local.FamilySigLIP2, layout.KindTowers, 0.99999},
	{"tiny-siglip2", "tiny-siglip2", "fp16", local.FamilySigLIP2, layout.KindTowers, 0.999},
	{"immich-clip", "immich-clip", "", local.FamilyCLIP, layout.KindImmich, 0.99999},
	{"immich-siglip2", "immich-siglip2", "", local.FamilySigLIP2, layout.KindImmich, 0.99999},
	{"immich-mclip", "immich-mclip", "", local.FamilyMCLIP, layout.KindImmich, 0.99999},
}

// TestFamilyParity runs every golden text and image of each family through
// the engine and compares with PyTorch: the token ids exactly (against the
// sentencepiece library for the SentencePiece families), the vectors by
// cosine. The worst cosines are logged for the README's table.
func TestFamilyParity(t *testing.T) {
	for _, c := range familyCases {
		t.Run(fmt.Sprintf("%s/%s", c.name, orFP32(c.variant)), func(t *testing.T) {
			g := readFamilyGolden(t, c.golden)
			dir := fixtures.Fixture("models", c.name)
			desc, err := local.Describe(dir, c.variant)
			require.NoError(t, err)
			assert.Equal(t, c.family, desc.Family)
			assert.Equal(t, c.layout, desc.Layout)
			assert.Equal(t, len(g.Texts[0].Embedding), desc.Dim, "the config's vector width")

			e := localtest.Engine(t, local.Options{BatchSize: 4, TextBatchSize: 8})
			m, err := e.Load(dir, c.variant)
			require.NoError(t, err)
			assert.Equal(t, c.family, m.Family())

			texts := make([]string, len(g.Texts))
			for i, x := range g.Texts {
				texts[i] = x.Text
			}
			counts, err := m.CountTokens(texts)
			require.NoError(t, err)
			res, err := m.EmbedTexts(context.Background(), texts)
			require.NoError(t, err)
			worstText := 1.0
			for i, x := range g.Texts {
				require.NoError(t, res[i].Err, "text %q", x.Text)
				assert.Equalf(t, len(x.InputIDs), counts[i], "token count of %q (reference ids %v)", x.Text, x.InputIDs)
				cs := cosine(res[i].Vector, x.Embedding)
				if cs < c.minCos {
					t.Errorf("text %q: cosine %.7f to PyTorch, want >= %g", x.Text, cs, c.minCos)
				}
				worstText = math.Min(worstText, cs)
			}

			files := make([]string, len(g.Images))
			for i, img := range g.Images {
				files[i] = fixtures.Fixture(strings.Split(img.File, "/")...)
			}
			vecs, errs := embedFiles(t, m, files...)
			worstImage := 1.0
			jpeg, _ := imageprep.JPEGDecoder()
			for i, img := range g.Images {
				require.NoError(t, errs[i], img.File)
				cs := cosine(vecs[i], img.Embedding)
				want := c.minCos
				if jpeg != imageprep.JPEGTurbo && strings.HasSuffix(img.File, ".jpg") {
					// Go's decoder is within 2-3 levels of Pillow's
					// libjpeg-turbo, which these tiny inputs (48-80 px) feel.
					want = min(want, 0.9999)
				}
				if cs < want {
					t.Errorf("image %s: cosine %.7f to PyTorch, want >= %g", img.File, cs, want)
				}
				worstImage = math.Min(worstImage, cs)
			}
			t.Logf("parity %s (%s, %s, %s): %d texts worst cosine %.7f; %d images worst cosine %.7f (JPEG decoder %s)",
				c.name, c.family, c.layout, orFP32(c.variant), len(g.Texts), worstText, len(g.Images), worstImage, jpeg)
		})
	}
}

func orFP32(v string) string {
	if v == "" {
		return "fp32"
	}
	return v
}

// TestFamilyTokenIDs checks the token ids the text towers are fed, text by
// text, against the references in the goldens: the sentencepiece library
// (SigLIP's Unigram, Gemma's BPE with byte fallback, XLM-R's Unigram) and
// CLIP's BPE; padded to the model's length with its pad token on the right.
func TestFamilyTokenIDs(t *testing.T) {
	for _, name := range []string{"tiny-siglip", "tiny-siglip2", "immich-clip", "immich-siglip2", "immich-mclip"} {
		t.Run(name, func(t *testing.T) {
			g := readFamilyGolden(t, name)
			e := localtest.Engine(t, local.Options{})
			m, err := e.Load(fixtures.Fixture("models", name), "")
			require.NoError(t, err)
			ids, err := m.TokenIDs(textsOf(g))
			require.NoError(t, err)
			for i, x := range g.Texts {
				want := append(append([]int(nil), x.InputIDs...), repeat(g.PadID, g.MaxLength-len(x.InputIDs))...)
				assert.Equalf(t, want, ids[i], "ids of %q", x.Text)
			}
		})
	}
}

func textsOf(g familyGolden) []string {
	out := make([]string, len(g.Texts))
	for i, x := range g.Texts {
		out[i] = x.Text
	}
	return out
}

func repeat(v, n int) []int {
	out := make([]int, max(n, 0))
	for i := range out {
		out[i] = v
	}
	return out
}

// TestSigLIPPaddingMatters shows why the padding is part of the input: the
// same text padded with another id, on the other side, or not at all gives
// another vector, so a batch padded to its longest text would be wrong.
func TestSigLIPPaddingMatters(t *testing.T) {
	g := readFamilyGolden(t, "tiny-siglip")
	e := localtest.Engine(t, local.Options{})
	m, err := e.Load(fixtures.Fixture("models", "tiny-siglip"), "")
	require.NoError(t, err)
	long := "the " + strings.Repeat("very ", 90) + "long caption"
	res, err := m.EmbedTexts(context.Background(), []string{"a photo of a cat", long})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, cosine(res[0].Vector, g.Texts[0].Embedding), 0.99999)
	// A long text in the same batch does not change the short one's vector.
	alone, err := m.EmbedTexts(context.Background(), []string{"a photo of a cat"})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, cosine(alone[0].Vector, res[0].Vector), 0.999999)
}

// TestNaFlexRefused: SigLIP 2 NaFlex checkpoints are refused at load and
// by Describe, with a message naming the variant that is supported.
func TestNaFlexRefused(t *testing.T) {
	for name, edit := range map[string]func(dir string){
		"model_type siglip2": func(dir string) {
			rewriteJSON(t, filepath.Join(dir, "config.json"), func(m map[string]any) { m["model_type"] = "siglip2" })
		},
		"Siglip2ImageProcessor": func(dir string) {
			rewriteJSON(t, filepath.Join(dir, "preprocessor_config.json"), func(m map[string]any) {
				m["image_processor_type"] = "Siglip2ImageProcessor"
				m["max_num_patches"] = 256
			})
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := copyFixture(t, "tiny-siglip2")
			edit(dir)
			e := localtest.Engine(t, local.Options{})
			_, err := e.Load(dir, "")
			require.Error(t, err)
			assert.True(t, errors.Is(err, local.ErrNaFlex), "%v", err)
			assert.Contains(t, err.Error(), "FixRes")
			if name == "model_type siglip2" {
				_, err = local.Describe(dir, "")
				assert.ErrorIs(t, err, local.ErrNaFlex)
			}
		})
	}
}

func rewriteJSON(t *testing.T, path string, edit func(map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	edit(m)
	data, err = json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o644))
}

// copyFixture copies a fixture model directory into a temporary one.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	src := fixtures.Fixture("models", name)
	dst := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
	return dst
}

// TestStaticBatchOneAtATime: immich's graphs are exported with a batch of
// 1 fixed; a call with many inputs runs them one per run through the
// tower's batcher, and every one gets its own vector (none fails, none is
// dropped, none takes a neighbour's).
func TestStaticBatchOneAtATime(t *testing.T) {
	g := readFamilyGolden(t, "immich-clip")
	e := localtest.Engine(t, local.Options{BatchSize: 8, TextBatchSize: 16, Runs: 2})
	m, err := e.Load(fixtures.Fixture("models", "immich-clip"), "")
	require.NoError(t, err)
	texts := textsOf(g)[:20]
	res, err := m.EmbedTexts(context.Background(), texts)
	require.NoError(t, err)
	for i := range texts {
		require.NoError(t, res[i].Err)
		assert.GreaterOrEqual(t, cosine(res[i].Vector, g.Texts[i].Embedding), 0.99999, texts[i])
	}
	files := make([]string, 12)
	for i := range files {
		files[i] = fixtures.Fixture(strings.Split(g.Images[i].File, "/")...)
	}
	vecs, errs := embedFiles(t, m, files...)
	for i := range files {
		require.NoError(t, errs[i])
		assert.GreaterOrEqual(t, cosine(vecs[i], g.Images[i].Embedding), 0.99999, files[i])
	}
	for _, s := range m.Stats() {
		assert.Equal(t, s.Batches, s.Items, "%s: one input per run", s.Tower)
	}
}

// TestSigLIPCombinedGraph: a repo with only the combined onnx/model.onnx
// (input_ids and pixel_values in, normalised text_embeds and image_embeds
// out, its weights in model.onnx_data) embeds both modalities as the
// towers do.
func TestSigLIPCombinedGraph(t *testing.T) {
	g := readFamilyGolden(t, "tiny-siglip")
	dir := copyFixture(t, "tiny-siglip")
	towers, err := filepath.Glob(filepath.Join(dir, "onnx", "*_model*.onnx"))
	require.NoError(t, err)
	for _, p := range towers {
		require.NoError(t, os.Remove(p))
	}
	desc, err := local.Describe(dir, "")
	require.NoError(t, err)
	assert.Equal(t, layout.KindSingle, desc.Layout)
	assert.True(t, desc.Text && desc.Image)
	e := localtest.Engine(t, local.Options{})
	m, err := e.Load(dir, "")
	require.NoError(t, err)
	res, err := m.EmbedTexts(context.Background(), textsOf(g)[:10])
	require.NoError(t, err)
	for i := range res {
		assert.GreaterOrEqual(t, cosine(res[i].Vector, g.Texts[i].Embedding), 0.99999, g.Texts[i].Text)
	}
	vecs, errs := embedFiles(t, m, fixtures.Fixture("preprocess", "jpeg_444.jpg"), fixtures.Fixture("images", "red_circle.png"))
	for i, k := range []int{2, 22} {
		require.NoError(t, errs[i])
		assert.GreaterOrEqual(t, cosine(vecs[i], g.Images[k].Embedding), 0.99999, g.Images[k].File)
	}
}

package local_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/localtest"
	"github.com/hybridembed/hybridembed/local/tokenize"
)

type stGolden struct {
	Texts []struct {
		Text           string    `json:"text"`
		InputIDs       []int     `json:"input_ids"`
		Embedding      []float32 `json:"embedding"`
		Mean, CLS, Max []float32
	} `json:"texts"`
}

func readSTGolden(t *testing.T) stGolden {
	t.Helper()
	raw, err := os.ReadFile(fixtures.Fixture("golden", "tiny-st.json"))
	require.NoError(t, err)
	var g stGolden
	require.NoError(t, json.Unmarshal(raw, &g))
	return g
}

// copyDir copies a fixture model so a test can change its config files.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
	return dst
}

func TestSentenceEncoderParity(t *testing.T) {
	g := readSTGolden(t)
	dir := fixtures.Fixture("models", "tiny-st")
	tok, err := tokenize.Load(dir, tokenize.Options{MaxLength: 64})
	require.NoError(t, err)
	var texts []string
	for _, c := range g.Texts {
		texts = append(texts, c.Text)
		enc, err := tok.Encode(c.Text)
		require.NoError(t, err)
		assert.Equalf(t, c.InputIDs, enc.IDs, "ids of %q (BERT's reference WordPiece)", c.Text)
	}
	assert.Len(t, g.Texts[len(g.Texts)-1].InputIDs, 64, "max_seq_length truncates")

	e := localtest.Engine(t, local.Options{TextBatchSize: 4})
	m, err := e.Load(dir, "")
	require.NoError(t, err)
	assert.Equal(t, local.FamilySentence, m.Family())
	assert.True(t, m.Normalizes())
	assert.False(t, m.HasImages())
	res, err := m.EmbedTexts(context.Background(), texts)
	require.NoError(t, err)
	var worst float64
	for i, c := range g.Texts {
		require.NoError(t, res[i].Err)
		worst = max(worst, maxAbsDiff(res[i].Vector, c.Mean))
	}
	t.Logf("tiny-st mean pooling: max abs diff vs PyTorch %.2e", worst)
	assert.LessOrEqual(t, worst, 1e-5)
}

func TestSentencePoolingModes(t *testing.T) {
	g := readSTGolden(t)
	e := localtest.Engine(t, local.Options{})
	for _, mode := range []string{"cls", "max"} {
		t.Run(mode, func(t *testing.T) {
			dir := copyDir(t, fixtures.Fixture("models", "tiny-st"))
			cfg := map[string]any{"word_embedding_dimension": 48, "pooling_mode_mean_tokens": false, "pooling_mode_" + map[string]string{"cls": "cls_token", "max": "max_tokens"}[mode]: true}
			data, _ := json.Marshal(cfg)
			require.NoError(t, os.WriteFile(filepath.Join(dir, "1_Pooling", "config.json"), data, 0o644))
			m, err := e.Load(dir, "")
			require.NoError(t, err)
			res, err := m.EmbedTexts(context.Background(), []string{g.Texts[0].Text, g.Texts[2].Text})
			require.NoError(t, err)
			want := map[string][][]float32{"cls": {g.Texts[0].CLS, g.Texts[2].CLS}, "max": {g.Texts[0].Max, g.Texts[2].Max}}[mode]
			for i := range want {
				assert.LessOrEqual(t, maxAbsDiff(res[i].Vector, want[i]), 1e-5)
			}
		})
	}
}

func TestSentenceConfigErrors(t *testing.T) {
	e := localtest.Engine(t, local.Options{})
	noPooling := copyDir(t, fixtures.Fixture("models", "tiny-st"))
	require.NoError(t, os.Remove(filepath.Join(noPooling, "modules.json")))
	m, err := e.Load(noPooling, "")
	require.NoError(t, err)
	_, err = m.EmbedTexts(context.Background(), []string{"x"})
	assert.ErrorContains(t, err, "no sentence-transformers Pooling config")

	dense := copyDir(t, fixtures.Fixture("models", "tiny-st"))
	mods := `[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
	{"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
	{"idx":2,"name":"2","path":"2_Dense","type":"sentence_transformers.models.Dense"}]`
	require.NoError(t, os.WriteFile(filepath.Join(dense, "modules.json"), []byte(mods), 0o644))
	m, err = e.Load(dense, "")
	require.NoError(t, err)
	_, err = m.EmbedTexts(context.Background(), []string{"x"})
	assert.ErrorContains(t, err, "Dense module (2_Dense)")
}

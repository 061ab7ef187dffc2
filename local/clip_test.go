package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/localtest"
	"github.com/hybridembed/hybridembed/local/tokenize"
)

type golden struct {
	Text []struct {
		Text       string    `json:"text"`
		InputIDs   []int     `json:"input_ids"`
		TextEmbeds []float32 `json:"text_embeds"`
	} `json:"text"`
	Pixels struct {
		Shape       []int64     `json:"shape"`
		ImageEmbeds [][]float32 `json:"image_embeds"`
	} `json:"pixels"`
	Images []struct {
		File        string    `json:"file"`
		ImageEmbeds []float32 `json:"image_embeds"`
	} `json:"images"`
}

func readGolden(t *testing.T, name string) golden {
	t.Helper()
	raw, err := os.ReadFile(fixtures.Fixture("golden", name+".json"))
	require.NoError(t, err)
	var g golden
	require.NoError(t, json.Unmarshal(raw, &g))
	return g
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

// fileSource is an ImageSource reading a file.
type fileSource string

func (f fileSource) Decode(_ context.Context, d imageprep.Decoder) (*imageprep.RGB, error) {
	data, err := os.ReadFile(string(f))
	if err != nil {
		return nil, err
	}
	return d.Decode(data)
}

func embedFiles(t *testing.T, m *local.Model, paths ...string) ([][]float32, []error) {
	t.Helper()
	srcs := make([]local.ImageSource, len(paths))
	for i, p := range paths {
		srcs[i] = fileSource(p)
	}
	vecs := make([][]float32, len(paths))
	errs := make([]error, len(paths))
	seen := 0
	require.NoError(t, m.EmbedImages(context.Background(), srcs, func(i int, v []float32, err error) {
		vecs[i], errs[i] = v, err
		seen++
	}))
	require.Equal(t, len(paths), seen, "every source is reported once")
	return vecs, errs
}

// TestFixtureParity checks both fixture layouts against PyTorch: token ids
// against CLIP's reference BPE, text and image vectors within 1e-5; with
// one image batch in the runtime at a time, and with three at once (each
// vector must still reach its own image).
func TestFixtureParity(t *testing.T) {
	for _, c := range []struct {
		name string
		runs int
	}{{"tiny-clip", 1}, {"tiny-clip", 3}, {"tiny-clip-joint", 1}, {"tiny-clip-joint", 3}} {
		name := c.name
		t.Run(fmt.Sprintf("%s/runs=%d", name, c.runs), func(t *testing.T) {
			g := readGolden(t, name)
			e := localtest.Engine(t, local.Options{BatchSize: 3, Runs: c.runs})
			m, err := e.Load(fixtures.Fixture("models", name), "")
			require.NoError(t, err)
			require.True(t, m.HasText())
			require.True(t, m.HasImages())

			tok, err := tokenize.Load(fixtures.Fixture("models", name), tokenize.Options{})
			require.NoError(t, err)
			texts := make([]string, len(g.Text))
			for i, c := range g.Text {
				texts[i] = c.Text
				enc, err := tok.Encode(c.Text)
				require.NoError(t, err)
				assert.Equalf(t, c.InputIDs, enc.IDs, "ids of %q", c.Text)
			}
			res, err := m.EmbedTexts(context.Background(), texts)
			require.NoError(t, err)
			var worst float64
			for i, c := range g.Text {
				require.NoError(t, res[i].Err)
				worst = math.Max(worst, maxAbsDiff(res[i].Vector, c.TextEmbeds))
			}
			t.Logf("%s text: max abs diff vs PyTorch %.2e over %d texts", name, worst, len(texts))
			assert.LessOrEqual(t, worst, 1e-5)

			var files []string
			for _, img := range g.Images {
				files = append(files, fixtures.Fixture("images", img.File))
			}
			vecs, errs := embedFiles(t, m, files...)
			for i, img := range g.Images {
				require.NoError(t, errs[i])
				d := maxAbsDiff(vecs[i], img.ImageEmbeds)
				t.Logf("%s %s: max abs diff vs PyTorch %.2e, cosine %.7f", name, img.File, d, cosine(vecs[i], img.ImageEmbeds))
				if filepath.Ext(img.File) == ".png" { // lossless: preprocessing is exact
					assert.LessOrEqual(t, d, 1e-5)
				} else {
					assert.GreaterOrEqual(t, cosine(vecs[i], img.ImageEmbeds), 0.999)
				}
			}
		})
	}
}

// TestBatchIndependence: a vector must not depend on its batch-mates or on
// padding.
func TestBatchIndependence(t *testing.T) {
	e := localtest.Engine(t, local.Options{TextBatchSize: 4})
	m, err := e.Load(fixtures.Fixture("models", "tiny-clip"), "")
	require.NoError(t, err)
	alone, err := m.EmbedTexts(context.Background(), []string{"a red circle"})
	require.NoError(t, err)
	mixed, err := m.EmbedTexts(context.Background(), []string{"the quick brown fox jumps over the lazy dog again and again", "a red circle", "x"})
	require.NoError(t, err)
	assert.LessOrEqual(t, maxAbsDiff(alone[0].Vector, mixed[1].Vector), 1e-5)
}

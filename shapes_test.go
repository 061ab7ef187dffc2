package hybridembed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
)

// TestShapesModelRetrieval: the trained demo model (scripts/train_demo.py)
// retrieves held-out scenes it never saw by their captions, through the
// whole pipeline (decoding, Pillow-exact preprocessing, the tokenizer,
// ONNX Runtime), from JPEG and PNG, in fp32 and quantized. Random weights
// score about 1 in 24 here; a wrong channel order, normalisation, crop or
// tokenization would collapse it.
func TestShapesModelRetrieval(t *testing.T) {
	dir := fixtures.Fixture("shapes-heldout")
	raw, err := os.ReadFile(filepath.Join(dir, "labels.json"))
	require.NoError(t, err)
	var labels map[string]struct {
		Colour string `json:"colour"`
		Shape  string `json:"shape"`
	}
	require.NoError(t, json.Unmarshal(raw, &labels))
	var names []string
	classSet := map[string]bool{}
	for name, l := range labels {
		names = append(names, name)
		classSet["a "+l.Colour+" "+l.Shape] = true
	}
	sort.Strings(names)
	var captions []string
	for c := range classSet {
		captions = append(captions, c)
	}
	sort.Strings(captions)
	require.Len(t, captions, 24)

	ctx := context.Background()
	for _, variant := range []string{"", "quantized"} {
		m, err := newEmbedder(t, hybridembed.WithVariant(variant)).Model(ctx, fixtures.Fixture("models", "shapes-clip"))
		require.NoError(t, err)
		texts, err := m.EmbedTexts(ctx, captions)
		require.NoError(t, err)
		for _, ext := range []string{".png", ".jpg"} {
			images := make([]hybridembed.Image, len(names))
			for i, n := range names {
				images[i] = hybridembed.ImageFile(filepath.Join(dir, n+ext))
			}
			embs, err := m.EmbedImages(ctx, images)
			require.NoError(t, err)
			// Text -> image: each caption's best image shows that class.
			t2i := 0
			for qi, q := range texts {
				best, bestScore := 0, -2.0
				for i, e := range embs {
					if s := hybridembed.Cosine(q.Vector, e.Vector); s > bestScore {
						best, bestScore = i, s
					}
				}
				l := labels[names[best]]
				if captions[qi] == "a "+l.Colour+" "+l.Shape {
					t2i++
				}
			}
			// Image -> text: each image's best caption names its class.
			i2t := 0
			for i, e := range embs {
				best, bestScore := 0, -2.0
				for j, q := range texts {
					if s := hybridembed.Cosine(q.Vector, e.Vector); s > bestScore {
						best, bestScore = j, s
					}
				}
				l := labels[names[i]]
				if captions[best] == "a "+l.Colour+" "+l.Shape {
					i2t++
				}
			}
			what := fmt.Sprintf("variant %q, %s", variant, ext)
			t.Logf("%s: text->image top-1 %d/%d (%.0f%%), image->text %d/%d (%.0f%%)", what,
				t2i, len(captions), 100*float64(t2i)/float64(len(captions)), i2t, len(names), 100*float64(i2t)/float64(len(names)))
			assert.GreaterOrEqual(t, float64(t2i)/float64(len(captions)), 0.9, what)
		}
	}
}

package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/internal/server"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// TestFamiliesServed serves a model of every family (SigLIP and SigLIP 2
// in the transformers.js layout, immich's CLIP, SigLIP 2 and M-CLIP
// layouts) and checks both routes, texts and images, against the PyTorch
// goldens of the fixtures.
func TestFamiliesServed(t *testing.T) {
	names := []string{"tiny-siglip", "tiny-siglip2", "immich-clip", "immich-siglip2", "immich-mclip"}
	cfg := server.Config{APIKeys: []string{apiKey}, Models: map[string]string{}}
	for _, n := range names {
		cfg.Models[n] = fixtures.Fixture("models", n)
	}
	emb := newEmbedder(t)
	srv, err := server.New(context.Background(), emb, cfg)
	require.NoError(t, err)
	require.NoError(t, srv.Warm(context.Background()))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			var g struct {
				Texts []struct {
					Text      string    `json:"text"`
					Embedding []float32 `json:"embedding"`
				} `json:"texts"`
				Images []struct {
					File      string    `json:"file"`
					Embedding []float32 `json:"embedding"`
				} `json:"images"`
			}
			raw, err := os.ReadFile(fixtures.Fixture("golden", n+".json"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(raw, &g))
			texts := []string{g.Texts[0].Text, g.Texts[17].Text, g.Texts[44].Text} // plain, accents, over length
			want := [][]float32{g.Texts[0].Embedding, g.Texts[17].Embedding, g.Texts[44].Embedding}

			body, _ := json.Marshal(map[string]any{"model": n, "input": texts})
			resp, data := post(t, ts.URL+"/v1/embeddings", apiKey, "application/json", body)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
			var oa struct {
				Data []struct {
					Embedding []float32 `json:"embedding"`
				} `json:"data"`
			}
			require.NoError(t, json.Unmarshal(data, &oa))
			require.Len(t, oa.Data, len(texts))
			for i := range texts {
				assert.GreaterOrEqual(t, cosine(want[i], oa.Data[i].Embedding), 0.99999, "OpenAI route, %q", texts[i])
			}

			body, _ = json.Marshal(map[string]any{"inputs": texts})
			resp, data = post(t, ts.URL+"/models/"+n, apiKey, "application/json", body)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
			var hf [][]float32
			require.NoError(t, json.Unmarshal(data, &hf))
			require.Len(t, hf, len(texts))
			for i := range texts {
				assert.GreaterOrEqual(t, cosine(want[i], hf[i]), 0.99999, "HF route, %q", texts[i])
			}

			for _, img := range []int{0, 11, 15} { // 4:2:0 JPEG, EXIF 6, PNG with alpha
				path := fixtures.Fixture(strings.Split(g.Images[img].File, "/")...)
				minCos := 0.99999
				if dec, _ := imageprep.JPEGDecoder(); dec != imageprep.JPEGTurbo && strings.HasSuffix(path, ".jpg") {
					minCos = 0.9999 // Go's decoder: within 2-3 levels of Pillow's
				}
				body, _ := json.Marshal(map[string]any{"model": n, "modality": "image", "input": []string{dataURI(t, path)}})
				resp, data := post(t, ts.URL+"/v1/embeddings", apiKey, "application/json", body)
				require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
				require.NoError(t, json.Unmarshal(data, &oa))
				require.Len(t, oa.Data, 1)
				assert.GreaterOrEqual(t, cosine(g.Images[img].Embedding, oa.Data[0].Embedding), minCos, "OpenAI route, %s", path)

				raw, err := os.ReadFile(path)
				require.NoError(t, err)
				ct := "image/jpeg"
				if strings.HasSuffix(path, ".png") {
					ct = "image/png"
				}
				resp, data = post(t, ts.URL+"/models/"+n, apiKey, ct, raw)
				require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
				var v []float32
				require.NoError(t, json.Unmarshal(data, &v))
				assert.GreaterOrEqual(t, cosine(g.Images[img].Embedding, v), minCos, "HF route, %s", path)
			}
		})
	}
}

package hftest_test

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/remote/hftest"
)

const model = "sentence-transformers/all-MiniLM-L6-v2"

// TestOfficialJSClientAccepted runs the real @huggingface/inference client
// against the emulator: the emulator must accept exactly what it sends, and
// the client must read what the emulator answers.
func TestOfficialJSClientAccepted(t *testing.T) {
	dir := fixtures.NodeClients(t)
	s := hftest.New(t)
	ref := fixtures.TinySTReference(t)
	s.ServeReference(t, model, ref)
	s.Limit(model, 4, func(text string) int { return ref.Tokens[text] })
	endpoint := s.URL + "/hf-inference/models/" + model + "/pipeline/feature-extraction"
	texts := []string{"This is an example sentence", "Each sentence is converted"}

	call := func(request string) map[string]json.RawMessage {
		t.Helper()
		out, err := exec.Command("node", "testdata/hfjs_feature_extraction.cjs", dir, endpoint, "hf_test_token", request).Output()
		require.NoError(t, err, string(out))
		var res map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(out, &res), string(out))
		return res
	}

	res := call(`{"inputs": ["This is an example sentence", "Each sentence is converted"], "truncate": true, "normalize": true}`)
	require.Contains(t, res, "output", string(res["error"]))
	var vecs [][]float32
	require.NoError(t, json.Unmarshal(res["output"], &vecs))
	require.Len(t, vecs, 2)
	for i, text := range texts {
		assert.InDeltaSlice(t, ref.Pipeline[text], vecs[i], 1e-6, text)
	}
	last := s.Requests()[len(s.Requests())-1]
	assert.JSONEq(t, `{"inputs":["This is an example sentence","Each sentence is converted"],"truncate":true,"normalize":true}`, string(last.Body))
	assert.Equal(t, "Bearer hf_test_token", last.Header.Get("Authorization"))
	assert.Contains(t, last.Header.Get("User-Agent"), "@huggingface/inference/")

	// One string in, one vector out; normalize: false gives the pooled vector.
	res = call(`{"inputs": "Each sentence is converted", "truncate": true, "normalize": false}`)
	var one []float32
	require.NoError(t, json.Unmarshal(res["output"], &one), string(res["error"]))
	assert.InDeltaSlice(t, ref.Raw[texts[1]], one, 1e-6)

	// Over the limit without truncate: the client reports the validation error.
	res = call(`{"inputs": ["This is an example sentence"]}`)
	assert.Contains(t, string(res["error"]), "must have less than 4 tokens")
	assert.Equal(t, "413", string(res["status"]))
}

// TestOfficialJSClientProviders runs the real @huggingface/inference
// client through each OpenAI-shaped provider, and with provider "auto":
// the emulator's Hub mapping is what the client reads (its order picks the
// provider), and the emulator's routes accept exactly the body the client
// sends (the provider id, never the Hub id) and answer what it reads.
func TestOfficialJSClientProviders(t *testing.T) {
	dir := fixtures.NodeClients(t)
	const qwen = "Qwen/Qwen3-Embedding-8B"
	s := hftest.New(t)
	s.ServeProvider("deepinfra", qwen, "Qwen/Qwen3-Embedding-8B", hftest.Filler(8), true)
	s.ServeProvider("scaleway", qwen, "qwen3-embedding-8b", hftest.Filler(8), true)
	s.ServeProvider("together", qwen, "Qwen/Qwen3-Embedding-8B-tgt", hftest.Filler(8), true)
	vec, _ := hftest.Filler(8)(context.Background(), []string{"Each sentence is converted"})

	call := func(provider string) (map[string]json.RawMessage, hftest.Request) {
		t.Helper()
		out, err := exec.Command("node", "testdata/hfjs_provider.cjs", dir, s.URL, "hf_test_token", qwen, provider, `"Each sentence is converted"`).Output()
		require.NoError(t, err, string(out))
		var res map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(out, &res), string(out))
		require.Contains(t, res, "output", string(out))
		reqs := s.Requests()
		return res, reqs[len(reqs)-1]
	}
	for provider, want := range map[string]struct{ route, id string }{
		"deepinfra": {"/deepinfra/v1/openai/embeddings", "Qwen/Qwen3-Embedding-8B"},
		"scaleway":  {"/scaleway/v1/embeddings", "qwen3-embedding-8b"},
		"together":  {"/together/v1/embeddings", "Qwen/Qwen3-Embedding-8B-tgt"},
		"auto":      {"/deepinfra/v1/openai/embeddings", "Qwen/Qwen3-Embedding-8B"}, // the Hub lists deepinfra first
	} {
		res, last := call(provider)
		var vecs [][]float32
		require.NoError(t, json.Unmarshal(res["output"], &vecs), provider)
		require.Len(t, vecs, 1)
		assert.InDeltaSlice(t, normalized(vec[0]), vecs[0], 1e-6, provider)
		assert.Equal(t, want.route, last.Path, provider)
		assert.Equal(t, "Bearer hf_test_token", last.Header.Get("Authorization"))
		assert.JSONEq(t, `{"input":"Each sentence is converted","model":"`+want.id+`"}`, string(last.Body), provider)
		assert.Contains(t, string(res["fetched"]), "/api/models/"+qwen+"?expand[]=inferenceProviderMapping", provider)
	}
	// The listing endpoint's list form, read by the client as it is.
	s.MappingAsList(true)
	s.MapEntries(qwen, hftest.Entry{Provider: "scaleway", Status: "live", ProviderID: "qwen3-embedding-8b"})
	_, last := call("auto")
	assert.Equal(t, "/scaleway/v1/embeddings", last.Path)
}

// normalized is v scaled to unit length (the deployments answer unit
// vectors; Filler's are not).
func normalized(v []float32) []float32 {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) / math.Sqrt(ss))
	}
	return out
}

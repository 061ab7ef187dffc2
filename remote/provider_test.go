package remote_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/remote"
	"github.com/hybridembed/hybridembed/remote/hftest"
)

// indexVectors answers each text with a vector that names it: [len, first
// byte, position in the request], so a misplaced vector is seen.
func indexVectors(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = []float32{float32(len(t)), float32(t[0]), float32(i)}
	}
	return out, nil
}

func texts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("text number %d", i)
	}
	return out
}

// TestOpenAIShapedProviders: each provider's route, body and provider id;
// 70 inputs split at the provider's limit come back in input order
// although the emulator shuffles data.
func TestOpenAIShapedProviders(t *testing.T) {
	for _, tc := range []struct {
		provider, route string
		perRequest      int // inputs in the first request
	}{
		{remote.Together, "/together/v1/embeddings", 32},
		{remote.Scaleway, "/scaleway/v1/embeddings", 32},
		{remote.DeepInfra, "/deepinfra/v1/openai/embeddings", 70},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			s := hftest.New(t)
			s.ServeProvider(tc.provider, "Qwen/Qwen3-Embedding-8B", "qwen3-embedding-8b", indexVectors, false)
			c := newClient(s)
			in := texts(70)
			vecs, err := c.Embed(context.Background(), remote.Target{Provider: tc.provider, ProviderID: "qwen3-embedding-8b", Model: "Qwen/Qwen3-Embedding-8B"}, in, remote.Params{}, "")
			require.NoError(t, err)
			require.Len(t, vecs, 70)
			sent := 0
			for _, r := range s.Requests() {
				require.Equal(t, tc.route, r.Path)
				assert.Equal(t, "Bearer hf_secret_token_123", r.Header.Get("Authorization"))
				var body struct {
					Input []string `json:"input"`
					Model string   `json:"model"`
				}
				require.NoError(t, json.Unmarshal(r.Body, &body))
				assert.Equal(t, "qwen3-embedding-8b", body.Model, "the provider id, never the Hub id")
				assert.Regexp(t, `^\{"input":\[.*\],"model":"qwen3-embedding-8b"\}$`, string(r.Body), "input and model, model last")
				for k, text := range body.Input {
					assert.Equal(t, in[sent+k], text)
				}
				sent += len(body.Input)
			}
			assert.Equal(t, 70, sent)
			var first struct{ Input []string }
			require.NoError(t, json.Unmarshal(s.Requests()[0].Body, &first))
			assert.Len(t, first.Input, tc.perRequest)
			for i, v := range vecs {
				assert.Equal(t, float32(len(in[i])), v[0], "vector %d", i)
				assert.Equal(t, float32(i%tc.perRequest), v[2], "vector %d is the answer to its own input", i)
			}
		})
	}
}

// TestOpenAIShapedAnswers: the emulator shuffles data; a client that read
// it in list order would misplace vectors (the check can fail).
func TestOpenAIShapedAnswers(t *testing.T) {
	s := hftest.New(t)
	s.ServeProvider(remote.Together, "intfloat/multilingual-e5-large-instruct", "intfloat/multilingual-e5-large-instruct", indexVectors, true)
	body := `{"input":["a","bb","ccc","dddd"],"model":"intfloat/multilingual-e5-large-instruct"}`
	raw := post(t, s.URL+"/together/v1/embeddings", body)
	var resp struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(raw, &resp))
	inOrder := true
	for i, d := range resp.Data {
		inOrder = inOrder && d.Index == i
	}
	assert.False(t, inOrder, "data is shuffled")

	c := newClient(s)
	tgt := remote.Target{Provider: remote.Together, ProviderID: "intfloat/multilingual-e5-large-instruct", Model: "intfloat/multilingual-e5-large-instruct"}
	vecs, err := c.Embed(context.Background(), tgt, []string{"a", "bb", "ccc", "dddd"}, remote.Params{}, "")
	require.NoError(t, err)
	for i, v := range vecs {
		want, _ := indexVectors(context.Background(), []string{"a", "bb", "ccc", "dddd"})
		var dot, ss, ww float64
		for k := range v {
			dot += float64(v[k]) * float64(want[i][k])
			ss += float64(v[k]) * float64(v[k])
			ww += float64(want[i][k]) * float64(want[i][k])
		}
		assert.InDelta(t, 1, ss, 1e-5, "the deployment normalises")
		assert.InDelta(t, 1, dot/math.Sqrt(ss*ww), 1e-6, "vector %d is its own input's, placed by index", i)
	}

	// Garbled answers are retried; the retries see a good one.
	for _, k := range []hftest.Kind{hftest.DuplicateIndex, hftest.WrongCount, hftest.WrongDims, hftest.MalformedJSON, hftest.ResetMidBody} {
		s.InjectProvider(remote.Together, tgt.Model, hftest.Fault{Kind: k})
		_, err := c.Embed(context.Background(), tgt, []string{"a", "bb"}, remote.Params{}, "")
		assert.NoError(t, err, "fault %d", k)
	}
	s.InjectProvider(remote.Together, tgt.Model, hftest.Repeat(hftest.Fault{Kind: hftest.DuplicateIndex}, 4)...)
	_, err = c.Embed(context.Background(), tgt, []string{"a", "bb"}, remote.Params{}, "")
	assert.ErrorIs(t, err, remote.ErrMalformed)
	assert.ErrorContains(t, err, "two embeddings for index")
}

// TestProviderRoutesAreStrict: what the real routes refuse, the emulator
// refuses: the HF-shaped body, an unknown field, the Hub id where the
// provider's differs, an HF body on a provider route.
func TestProviderRoutesAreStrict(t *testing.T) {
	s := hftest.New(t)
	s.ServeProvider(remote.Scaleway, "Qwen/Qwen3-Embedding-8B", "qwen3-embedding-8b", indexVectors, true)
	for _, tc := range []struct {
		body   string
		status int
		msg    string
	}{
		{`{"inputs":["a"],"model":"qwen3-embedding-8b"}`, 400, "inputs"},
		{`{"input":["a"],"model":"qwen3-embedding-8b","normalize":true}`, 400, "normalize"},
		{`{"input":["a"]}`, 400, "model"},
		{`{"input":[],"model":"qwen3-embedding-8b"}`, 400, "empty"},
		{`{"input":["a"],"model":"Qwen/Qwen3-Embedding-8B"}`, 404, "Unable to access model"},
		{`{"input":"a","model":"qwen3-embedding-8b"}`, 200, ""},
	} {
		status, body := postStatus(t, s.URL+"/scaleway/v1/embeddings", tc.body)
		assert.Equal(t, tc.status, status, tc.body)
		assert.Contains(t, body, tc.msg, tc.body)
	}
	// The client sees the unknown id as not served (a stale mapping).
	_, err := newClient(s).Embed(context.Background(), remote.Target{Provider: remote.Scaleway, ProviderID: "gone", Model: "acme/gone"}, []string{"a"}, remote.Params{}, "")
	assert.True(t, remote.IsNotServed(err))
	assert.ErrorContains(t, err, "Unable to access model gone")
	_, err = newClient(s).Embed(context.Background(), remote.Target{Provider: "nebius", ProviderID: "x", Model: "acme/x"}, []string{"a"}, remote.Params{}, "")
	assert.ErrorIs(t, err, remote.ErrUnknownProvider)
}

func TestMaxInputs(t *testing.T) {
	s := hftest.New(t)
	s.ServeProvider(remote.DeepInfra, "BAAI/bge-m3", "BAAI/bge-m3", indexVectors, true)
	c := newClient(s)
	c.MaxInputs = map[string]int{remote.DeepInfra: 25}
	vecs, err := c.Embed(context.Background(), remote.Target{Provider: remote.DeepInfra, ProviderID: "BAAI/bge-m3", Model: "BAAI/bge-m3"}, texts(70), remote.Params{}, "")
	require.NoError(t, err)
	assert.Len(t, vecs, 70)
	assert.Equal(t, 3, s.Count("/deepinfra/"), "25 + 25 + 20")
	assert.Equal(t, 1024, remote.DefaultMaxInputs(remote.DeepInfra))
	assert.Equal(t, 32, remote.DefaultMaxInputs(remote.HFInference))
	assert.True(t, remote.Embeds(remote.HFInference, "sentence-similarity"))
	assert.False(t, remote.Embeds(remote.Together, "sentence-similarity"))
	assert.False(t, remote.Embeds("nebius", "feature-extraction"))
	assert.Equal(t, []string{"deepinfra", "hf-inference", "scaleway", "together"}, remote.Providers())
	assert.True(t, strings.HasSuffix(c.EmbeddingsURL(remote.Target{Provider: remote.DeepInfra, ProviderID: "BAAI/bge-m3"}), "/deepinfra/v1/openai/embeddings"))
}

func postStatus(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url, body string) []byte {
	t.Helper()
	status, b := postStatus(t, url, body)
	require.Equal(t, http.StatusOK, status, b)
	return []byte(b)
}

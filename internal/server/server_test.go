package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/internal/server"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
	"github.com/hybridembed/hybridembed/models/modelstest"
	"github.com/hybridembed/hybridembed/remote/hftest"
)

const apiKey = "sk-test-key"

var clip = fixtures.Fixture("models", "tiny-clip")

func newEmbedder(t *testing.T, opts ...hybridembed.Option) *hybridembed.Embedder {
	t.Helper()
	orttest.Init(t)
	emb, err := hybridembed.New(append([]hybridembed.Option{hybridembed.WithoutEnvironment(),
		hybridembed.WithHubCache(t.TempDir()), hybridembed.WithOffline(true)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { emb.Close() })
	return emb
}

// start serves clip under the name "clip" with one API key.
func start(t *testing.T, cfg server.Config, opts ...hybridembed.Option) (*httptest.Server, *hybridembed.Embedder) {
	t.Helper()
	emb := newEmbedder(t, append([]hybridembed.Option{hybridembed.WithNormalize(false)}, opts...)...)
	if cfg.Models == nil {
		cfg.Models = map[string]string{"clip": clip}
	}
	if cfg.APIKeys == nil {
		cfg.APIKeys = []string{apiKey}
	}
	srv, err := server.New(context.Background(), emb, cfg)
	require.NoError(t, err)
	require.NoError(t, srv.Warm(context.Background()))
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, emb
}

// reference is what the library (as `hybridembed text` and `embed` run it)
// gives for the same inputs.
type reference struct {
	texts  map[string][]float32
	images map[string][]float32
	raw    map[string][]float32 // texts, not normalised
}

func references(t *testing.T, texts []string, images []string) reference {
	t.Helper()
	ctx := context.Background()
	ref := reference{texts: map[string][]float32{}, images: map[string][]float32{}, raw: map[string][]float32{}}
	for _, normalize := range []bool{true, false} {
		m, err := newEmbedder(t, hybridembed.WithNormalize(normalize)).Model(ctx, clip)
		require.NoError(t, err)
		embs, err := m.EmbedTexts(ctx, texts)
		require.NoError(t, err)
		for i, e := range embs {
			if normalize {
				ref.texts[texts[i]] = e.Vector
			} else {
				ref.raw[texts[i]] = e.Vector
			}
		}
		if normalize {
			for _, p := range images {
				embs, err := m.EmbedImages(ctx, []hybridembed.Image{hybridembed.ImageFile(p)})
				require.NoError(t, err)
				ref.images[p] = embs[0].Vector
			}
		}
	}
	return ref
}

func cosine(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}

func assertSame(t *testing.T, want, got []float32, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	assert.GreaterOrEqual(t, cosine(want, got), 0.999999, what)
	assert.InDeltaSlice(t, want, got, 1e-5, what)
}

func dataURI(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	mime := "image/png"
	if strings.HasSuffix(path, ".jpg") {
		mime = "image/jpeg"
	}
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(data)
}

type nodeResult struct {
	Output json.RawMessage `json:"output"`
	Error  string          `json:"error"`
	Status int             `json:"status"`
	Code   string          `json:"code"`
}

func node(t *testing.T, script string, args ...string) nodeResult {
	t.Helper()
	out, err := exec.Command("node", append([]string{script}, args...)...).Output()
	var stderr []byte
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	require.NoError(t, err, "%s%s", out, stderr)
	var res nodeResult
	require.NoError(t, json.Unmarshal(out, &res), string(out))
	return res
}

// TestOpenAIClient: the official openai client, in both majors users
// have (7.x, and 6.x that npm installs on Node.js 20), talks to the server
// unchanged; vectors equal the library's for texts and images, as floats
// and as base64 (the client's default).
func TestOpenAIClient(t *testing.T) {
	for _, pkg := range []string{"openai", "openai-v6"} {
		t.Run(pkg, func(t *testing.T) {
			t.Setenv("OPENAI_PACKAGE", pkg)
			testOpenAIClient(t)
		})
	}
}

func testOpenAIClient(t *testing.T) {
	dir := fixtures.NodeClients(t)
	ts, _ := start(t, server.Config{})
	texts := []string{"a red circle", "a photo of a cat", "a yellow star on a dark background"}
	images := []string{fixtures.Fixture("images", "red_circle.png"), fixtures.Fixture("images", "yellow_star.jpg")}
	ref := references(t, texts, images)
	call := func(req any) nodeResult {
		t.Helper()
		b, _ := json.Marshal(req)
		return node(t, "testdata/openai_client.cjs", dir, ts.URL+"/v1", apiKey, "embeddings", string(b))
	}
	type response struct {
		Object string `json:"object"`
		Model  string `json:"model"`
		Data   []struct {
			Object    string   `json:"object"`
			Index     int      `json:"index"`
			Embedding vector32 `json:"embedding"`
		} `json:"data"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	decode := func(res nodeResult) response {
		t.Helper()
		require.Empty(t, res.Error)
		var r response
		require.NoError(t, json.Unmarshal(res.Output, &r))
		return r
	}
	m, err := newEmbedder(t).Model(context.Background(), clip)
	require.NoError(t, err)
	tokens, err := m.CountTokens(context.Background(), texts)
	require.NoError(t, err)

	for _, format := range []string{"float", "base64", ""} { // "": the client asks for base64 and decodes it
		req := map[string]any{"model": "clip", "input": texts}
		if format != "" {
			req["encoding_format"] = format
		}
		r := decode(call(req))
		assert.Equal(t, "list", r.Object)
		assert.Equal(t, "clip", r.Model)
		require.Len(t, r.Data, len(texts))
		for i, d := range r.Data {
			assert.Equal(t, "embedding", d.Object)
			assert.Equal(t, i, d.Index)
			assertSame(t, ref.texts[texts[i]], d.Embedding, format+" "+texts[i])
		}
		assert.Equal(t, tokens, r.Usage.PromptTokens)
		assert.Equal(t, tokens, r.Usage.TotalTokens)
	}
	// One string.
	r := decode(call(map[string]any{"model": "clip", "input": texts[1]}))
	require.Len(t, r.Data, 1)
	assertSame(t, ref.texts[texts[1]], r.Data[0].Embedding, texts[1])

	// Images: infinity's modality form, and content parts mixed with text.
	r = decode(call(map[string]any{"model": "clip", "modality": "image", "input": []string{dataURI(t, images[0]), dataURI(t, images[1])}}))
	require.Len(t, r.Data, 2)
	for i, p := range images {
		assertSame(t, ref.images[p], r.Data[i].Embedding, p)
	}
	r = decode(call(map[string]any{"model": "clip", "encoding_format": "float", "input": []any{
		map[string]any{"type": "image_url", "image_url": map[string]string{"url": dataURI(t, images[1])}},
		map[string]any{"type": "text", "text": texts[0]},
	}}))
	require.Len(t, r.Data, 2)
	assertSame(t, ref.images[images[1]], r.Data[0].Embedding, "image part")
	assertSame(t, ref.texts[texts[0]], r.Data[1].Embedding, "text part")

	// Errors surface in the client with their status and code.
	res := call(map[string]any{"model": "gpt-nope", "input": "x"})
	assert.Equal(t, 404, res.Status)
	assert.Equal(t, "model_not_found", res.Code)
	res = node(t, "testdata/openai_client.cjs", dir, ts.URL+"/v1", "wrong-key", "embeddings", `{"model":"clip","input":"x"}`)
	assert.Equal(t, 401, res.Status)
	assert.Equal(t, "invalid_api_key", res.Code)

	res = node(t, "testdata/openai_client.cjs", dir, ts.URL+"/v1", apiKey, "models")
	require.Empty(t, res.Error)
	assert.Contains(t, string(res.Output), `"id":"clip"`)
}

// TestHFJSClient: @huggingface/inference, given the server as its
// endpointUrl, gets the router's shapes; normalize:false gives raw vectors.
func TestHFJSClient(t *testing.T) {
	dir := fixtures.NodeClients(t)
	ts, _ := start(t, server.Config{})
	texts := []string{"a red circle", "a blue square"}
	ref := references(t, texts, nil)
	script := filepath.Join(fixtures.Root(), "remote", "hftest", "testdata", "hfjs_feature_extraction.cjs")
	for _, endpoint := range []string{ts.URL + "/hf-inference/models/clip/pipeline/feature-extraction", ts.URL + "/models/clip", ts.URL} {
		res := node(t, script, dir, endpoint, apiKey, `{"inputs": ["a red circle", "a blue square"], "truncate": true}`)
		require.Empty(t, res.Error, endpoint)
		var vecs [][]float32
		require.NoError(t, json.Unmarshal(res.Output, &vecs))
		require.Len(t, vecs, 2)
		for i, text := range texts {
			assertSame(t, ref.texts[text], vecs[i], endpoint+" "+text)
		}
		res = node(t, script, dir, endpoint, apiKey, `{"inputs": "a blue square", "normalize": false}`)
		var one []float32
		require.NoError(t, json.Unmarshal(res.Output, &one), res.Error)
		assertSame(t, ref.raw["a blue square"], one, endpoint+" raw")
		assert.InDelta(t, norm(ref.raw["a blue square"]), norm(one), 1e-4, "not normalised")
	}
	res := node(t, script, dir, ts.URL+"/models/clip", "wrong", `{"inputs": "x"}`)
	assert.Equal(t, 401, res.Status)
}

// vector32 reads an embedding as a list of floats or as OpenAI's base64
// (the client hands back base64 undecoded when it was asked for).
type vector32 []float32

func (v *vector32) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return json.Unmarshal(b, (*[]float32)(v))
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	*v = make([]float32, len(raw)/4)
	for i := range *v {
		(*v)[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return nil
}

func norm(v []float32) float64 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	return math.Sqrt(n)
}

func post(t *testing.T, url, key, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	return send(t, http.MethodPost, url, key, contentType, body)
}

// send sends a request with the key, and a body of contentType when
// contentType is not "".
func send(t *testing.T, method, url, key, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, data
}

// TestImageBody: an image/* body on the HF route gives its vector.
func TestImageBody(t *testing.T) {
	ts, _ := start(t, server.Config{})
	p := fixtures.Fixture("images", "green_triangle.jpg")
	ref := references(t, nil, []string{p})
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	resp, body := post(t, ts.URL+"/models/clip", apiKey, "image/jpeg", data)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, "local", resp.Header.Get("X-Hybridembed-Backend"))
	var v []float32
	require.NoError(t, json.Unmarshal(body, &v))
	assertSame(t, ref.images[p], v, p)
}

// TestErrors: every refusal has the right status, the client's error shape
// and a message that names the problem.
func TestErrors(t *testing.T) {
	ts, _ := start(t, server.Config{MaxBodyBytes: 64 << 10, MaxInputs: 4})
	bomb := "data:image/png;base64," + base64.StdEncoding.EncodeToString(fixtures.BombPNG())
	oai, hf := ts.URL+"/v1/embeddings", ts.URL+"/models/clip"
	for _, tc := range []struct {
		name, url, key, body string
		status               int
		want                 string // in the message
		code                 string // OpenAI's code, when it has one
	}{
		{"malformed JSON", oai, apiKey, `{"model": "clip", "input": [`, 400, "not valid JSON", ""},
		{"input of the wrong type", oai, apiKey, `{"model": "clip", "input": 5}`, 400, "input must be a string", ""},
		{"model of the wrong type", oai, apiKey, `{"model": 5, "input": "x"}`, 400, "model must be a string", ""},
		{"missing model", oai, apiKey, `{"input": "x"}`, 400, "model is required", ""},
		{"missing input", oai, apiKey, `{"model": "clip"}`, 400, "input is required", ""},
		{"empty string", oai, apiKey, `{"model": "clip", "input": ""}`, 400, "empty string", ""},
		{"empty list", oai, apiKey, `{"model": "clip", "input": []}`, 400, "input is empty", ""},
		{"too many inputs", oai, apiKey, `{"model": "clip", "input": ["a","b","c","d","e"]}`, 400, "at most 4", ""},
		{"token arrays", oai, apiKey, `{"model": "clip", "input": [[1, 2, 3]]}`, 400, "token arrays", ""},
		{"unknown model", oai, apiKey, `{"model": "../../etc/passwd", "input": "x"}`, 404, "not served here", "model_not_found"},
		{"no key", oai, "", `{"model": "clip", "input": "x"}`, 401, "API key", "invalid_api_key"},
		{"wrong key", oai, "sk-wrong", `{"model": "clip", "input": "x"}`, 401, "API key", "invalid_api_key"},
		{"URL image", oai, apiKey, `{"model": "clip", "modality": "image", "input": ["https://example.com/cat.jpg"]}`, 400, "data URI", ""},
		{"URL image part", oai, apiKey, `{"model": "clip", "input": [{"type": "image_url", "image_url": {"url": "http://169.254.169.254/"}}]}`, 400, "not fetched", ""},
		{"not an image", oai, apiKey, `{"model": "clip", "modality": "image", "input": ["data:image/png;base64,aGVsbG8="]}`, 400, "input[0]", ""},
		{"bomb image", oai, apiKey, `{"model": "clip", "modality": "image", "input": ["` + bomb + `"]}`, 400, "over the limit", ""},
		{"bad modality", oai, apiKey, `{"model": "clip", "modality": "audio", "input": "x"}`, 400, "modality", ""},
		{"bad encoding", oai, apiKey, `{"model": "clip", "input": "x", "encoding_format": "int8"}`, 400, "encoding_format", ""},
		{"cannot shorten", oai, apiKey, `{"model": "clip", "input": "x", "dimensions": 8}`, 400, "cannot shorten", ""},
		{"oversized body", oai, apiKey, `{"model": "clip", "input": "` + strings.Repeat("a", 70<<10) + `"}`, 413, "limit of 65536 bytes", ""},
		{"HF malformed", hf, apiKey, `{"inputs": `, 400, "not valid JSON", ""},
		{"HF wrong type", hf, apiKey, `{"inputs": 5}`, 422, "inputs must be", ""},
		{"HF normalize wrong type", hf, apiKey, `{"inputs": "x", "normalize": "yes"}`, 422, "normalize must be a boolean", ""},
		{"HF empty", hf, apiKey, `{"inputs": []}`, 400, "inputs is empty", ""},
		{"HF prompt_name", hf, apiKey, `{"inputs": "x", "prompt_name": "query"}`, 422, "prompt_name", ""},
		{"HF left truncation", hf, apiKey, `{"inputs": "x", "truncation_direction": "Left"}`, 422, "truncation_direction", ""},
		{"HF batch too big", hf, apiKey, `{"inputs": ["a","b","c","d","e"]}`, 413, "batch size 5", ""},
		{"HF unknown model", ts.URL + "/models/org/other", apiKey, `{"inputs": "x"}`, 404, "not served here", ""},
		{"HF no key", hf, "", `{"inputs": "x"}`, 401, "API key", ""},
		{"no such route", ts.URL + "/v1/chat/completions", apiKey, `{}`, 404, "no route", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, tc.url, tc.key, "application/json", []byte(tc.body))
			assert.Equal(t, tc.status, resp.StatusCode, string(body))
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			if strings.Contains(tc.url, "/v1/") {
				var e struct {
					Error struct {
						Message string  `json:"message"`
						Type    string  `json:"type"`
						Param   *string `json:"param"`
						Code    *string `json:"code"`
					} `json:"error"`
				}
				require.NoError(t, json.Unmarshal(body, &e), string(body))
				assert.Contains(t, e.Error.Message, tc.want)
				assert.NotEmpty(t, e.Error.Type)
				if tc.code != "" {
					require.NotNil(t, e.Error.Code)
					assert.Equal(t, tc.code, *e.Error.Code)
				}
				return
			}
			var e struct {
				Error string `json:"error"`
			}
			require.NoError(t, json.Unmarshal(body, &e), string(body))
			assert.Contains(t, e.Error, tc.want)
		})
	}

	// Health and readiness need no key; metrics do.
	for path, status := range map[string]int{"/health": 200, "/ready": 200, "/metrics": 401} {
		resp, err := http.Get(ts.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, status, resp.StatusCode, path)
	}
}

// online is an emulated router and Hub with one served text model, cached
// here too, and an Embedder that uses them with the server's own token.
func online(t *testing.T) (*hftest.Server, []hybridembed.Option) {
	t.Helper()
	orttest.Init(t) // before the cache moves: the runtime is found there
	// The routing state (a model marked not served) persists in
	// hybridembed's cache: keep each test's apart.
	t.Setenv("HYBRIDEMBED_CACHE", t.TempDir())
	s := hftest.New(t)
	s.ServeReference(t, miniLM, fixtures.TinySTReference(t))
	hub := t.TempDir()
	modelstest.Cache(t, hub, miniLM, fixtures.Fixture("models", "tiny-st"))
	return s, []hybridembed.Option{hybridembed.WithHubCache(hub), hybridembed.WithOffline(false),
		hybridembed.WithRouterURL(s.URL), hybridembed.WithHubURL(s.URL), hybridembed.WithToken(serverToken),
		hybridembed.WithRetryPolicy(hybridembed.RetryPolicy{MaxAttempts: 1})}
}

const (
	miniLM      = "sentence-transformers/all-MiniLM-L6-v2"
	serverToken = "hf_server_secret_token"
)

// TestHybridRouting: a served text model is forwarded to the router with
// the server's token (never the client's key), falls back locally on a 404,
// and the router refusing the server's token is a 502 that does not leak it.
func TestHybridRouting(t *testing.T) {
	s, opts := online(t)
	ts, _ := start(t, server.Config{Models: map[string]string{"minilm": miniLM, miniLM: miniLM}}, opts...)
	body := []byte(`{"model": "minilm", "input": ["This is an example sentence"]}`)
	resp, data := post(t, ts.URL+"/v1/embeddings", apiKey, "application/json", body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
	assert.Equal(t, "remote", resp.Header.Get("X-Hybridembed-Backend"))
	assert.Equal(t, "hf-inference", resp.Header.Get("X-Hybridembed-Provider"))
	reqs := s.Requests()
	last := reqs[len(reqs)-1]
	assert.Equal(t, "Bearer "+serverToken, last.Header.Get("Authorization"))
	assert.NotContains(t, string(last.Body), apiKey)

	// The router's own route, by the model's id.
	resp, data = post(t, ts.URL+"/hf-inference/models/"+miniLM+"/pipeline/feature-extraction", apiKey, "application/json", []byte(`{"inputs": "This is an example sentence"}`))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
	assert.Equal(t, "remote", resp.Header.Get("X-Hybridembed-Backend"))

	s.Inject(miniLM, hftest.Fault{Kind: hftest.PlainNotFound})
	resp, data = post(t, ts.URL+"/v1/embeddings", apiKey, "application/json", body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
	assert.Equal(t, "local", resp.Header.Get("X-Hybridembed-Backend"), "a 404 falls back to the cached model")
	assert.NotContains(t, resp.Header, "X-Hybridembed-Provider", "no provider made a local vector")

	// A fresh server whose router refuses its token.
	s2, opts2 := online(t)
	s2.Inject(miniLM, hftest.Repeat(hftest.Fault{Kind: hftest.Unauthorized}, 5)...)
	ts2, _ := start(t, server.Config{Models: map[string]string{"minilm": miniLM}}, opts2...)
	resp, data = post(t, ts2.URL+"/v1/embeddings", apiKey, "application/json", body)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode, string(data))
	assert.Contains(t, string(data), "refused this server's token")
	assert.NotContains(t, string(data), serverToken)
}

// TestProviderBackedModel: a model only another provider serves (scaleway,
// under its own id), not cached here, is served through the router with
// the server's token, and the answer names the provider.
func TestProviderBackedModel(t *testing.T) {
	s, opts := online(t)
	const qwen = "Qwen/Qwen3-Embedding-8B"
	s.ServeProvider("scaleway", qwen, "qwen3-embedding-8b", hftest.Filler(8), true)
	ts, _ := start(t, server.Config{Models: map[string]string{qwen: qwen}}, opts...)
	resp, data := post(t, ts.URL+"/v1/embeddings", apiKey, "application/json", []byte(`{"model": "`+qwen+`", "input": ["a", "b", "c"]}`))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(data))
	assert.Equal(t, "remote", resp.Header.Get("X-Hybridembed-Backend"))
	assert.Equal(t, "scaleway", resp.Header.Get("X-Hybridembed-Provider"))
	var out struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(data, &out))
	want, _ := hftest.Filler(8)(context.Background(), []string{"a", "b", "c"})
	for i, d := range out.Data {
		assert.Equal(t, i, d.Index)
		assert.InDelta(t, 1, hybridembed.Cosine(d.Embedding, want[i]), 1e-6, "input %d", i)
	}
	last := s.Requests()[len(s.Requests())-1]
	assert.Equal(t, "/scaleway/v1/embeddings", last.Path)
	assert.Equal(t, "Bearer "+serverToken, last.Header.Get("Authorization"))
	assert.JSONEq(t, `{"input":["a","b","c"],"model":"qwen3-embedding-8b"}`, string(last.Body))
}

// TestBackpressure: beyond the admitted inputs a request gets 429 with
// Retry-After at once; a client that goes away releases its share.
func TestBackpressure(t *testing.T) {
	s, opts := online(t)
	s.Inject(miniLM, hftest.Fault{Kind: hftest.Slow, Delay: 3 * time.Second})
	ts, _ := start(t, server.Config{Models: map[string]string{"minilm": miniLM}, MaxInputs: 2, MaxPending: 2}, opts...)
	body := []byte(`{"model": "minilm", "input": ["one", "two"]}`)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/embeddings", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	require.Eventually(t, func() bool { return s.Count("/hf-inference/") > 0 }, 5*time.Second, 10*time.Millisecond)
	resp, data := post(t, ts.URL+"/v1/embeddings", apiKey, "application/json", []byte(`{"model": "minilm", "input": "three"}`))
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, string(data))
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Contains(t, string(data), "rate_limit_exceeded")

	cancel() // the first client goes away: its inputs are released long before the router answers
	<-done
	start := time.Now()
	require.Eventually(t, func() bool { return metric(t, ts.URL, `hybridembed_inputs_admitted{model="minilm"}`) == "0" },
		2*time.Second, 5*time.Millisecond, "a client that went away releases its inputs")
	t.Logf("released %v after the client left", time.Since(start))
	assert.Equal(t, "1", metric(t, ts.URL, `hybridembed_requests_rejected_total{model="minilm"}`))
	resp, data = post(t, ts.URL+"/v1/embeddings", apiKey, "application/json", []byte(`{"model": "minilm", "input": "four"}`))
	assert.Equal(t, http.StatusOK, resp.StatusCode, "admitted again once the first client left: %s", data)
}

func metric(t *testing.T, base, name string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestConcurrentClientsBatched: 64 clients with one text each are served
// correctly and share batches; the metrics say so.
func TestConcurrentClientsBatched(t *testing.T) {
	ts, emb := start(t, server.Config{})
	const clients = 64
	texts := make([]string, clients)
	for i := range texts {
		texts[i] = fmt.Sprintf("photo number %d", i)
	}
	ref := references(t, texts, nil)
	before := batches(emb)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(map[string]any{"model": "clip", "input": texts[i], "encoding_format": "base64"})
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/embeddings", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+apiKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var r struct {
				Data []struct {
					Embedding string `json:"embedding"`
				} `json:"data"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || len(r.Data) != 1 {
				errs <- fmt.Errorf("client %d: %v %d", i, err, resp.StatusCode)
				return
			}
			raw, _ := base64.StdEncoding.DecodeString(r.Data[0].Embedding)
			v := make([]float32, len(raw)/4)
			for j := range v {
				v[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
			}
			if c := cosine(ref.texts[texts[i]], v); c < 0.999999 {
				errs <- fmt.Errorf("client %d: cosine %f", i, c)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	after := batches(emb)
	mean := float64(after.inputs-before.inputs) / float64(after.batches-before.batches)
	t.Logf("64 concurrent one-text requests: %d batches, mean batch %.1f", after.batches-before.batches, mean)
	assert.Greater(t, mean, 1.5, "concurrent requests share batches")
}

type batchCount struct{ batches, inputs int64 }

func batches(emb *hybridembed.Embedder) batchCount {
	var c batchCount
	for _, st := range emb.Stats() {
		if strings.Contains(st.Graph, "text") {
			c.batches += st.Batches
			c.inputs += st.Inputs
		}
	}
	return c
}

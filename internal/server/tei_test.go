package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/internal/server"
	"github.com/hybridembed/hybridembed/local/imageprep"
)

// get sends a GET (or another bodiless method) with the key.
func get(t *testing.T, method, url, key string) (*http.Response, []byte) {
	t.Helper()
	return send(t, method, url, key, "", nil)
}

const hubID = "openai/clip-vit-base-patch32"

// TestModelsRetrieve: GET /v1/models/{id}, ids with a slash, as they are
// and escaped, through the openai SDK's models.retrieve too; an unknown id
// is OpenAI's 404, a wrong key 401.
func TestModelsRetrieve(t *testing.T) {
	ts, _ := start(t, server.Config{Models: map[string]string{hubID: clip, "clip": clip}})
	for _, path := range []string{"/v1/models/" + hubID, "/v1/models/openai%2Fclip-vit-base-patch32", "/v1/models/clip"} {
		resp, body := get(t, http.MethodGet, ts.URL+path, apiKey)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
		var m struct{ ID, Object, OwnedBy string }
		require.NoError(t, json.Unmarshal(body, &m))
		assert.Equal(t, strings.TrimPrefix(strings.ReplaceAll(path, "%2F", "/"), "/v1/models/"), m.ID)
		assert.Equal(t, "model", m.Object)
	}
	resp, body := get(t, http.MethodGet, ts.URL+"/v1/models/openai/gpt-nope", apiKey)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, string(body), `"code":"model_not_found"`)
	resp, _ = get(t, http.MethodGet, ts.URL+"/v1/models/"+hubID, "sk-wrong")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	dir := fixtures.NodeClients(t)
	res := node(t, "testdata/openai_client.cjs", dir, ts.URL+"/v1", apiKey, "retrieve", `"`+hubID+`"`)
	require.Empty(t, res.Error)
	assert.Contains(t, string(res.Output), `"id":"`+hubID+`"`)
	res = node(t, "testdata/openai_client.cjs", dir, ts.URL+"/v1", apiKey, "retrieve", `"openai/nope"`)
	assert.Equal(t, 404, res.Status)
	assert.Equal(t, "model_not_found", res.Code)
	res = node(t, "testdata/openai_client.cjs", dir, ts.URL+"/v1", "wrong", "retrieve", `"`+hubID+`"`)
	assert.Equal(t, 401, res.Status)
}

// TestMethodNotAllowed: a route asked with the wrong method is 405 with
// Allow, in the route's error shape; a path no route serves stays 404.
func TestMethodNotAllowed(t *testing.T) {
	ts, _ := start(t, server.Config{})
	for _, c := range []struct {
		method, path, allow string
	}{
		{http.MethodGet, "/v1/embeddings", "POST"},
		{http.MethodPut, "/v1/embeddings", "POST"},
		{http.MethodPost, "/v1/models", "GET, HEAD"},
		{http.MethodDelete, "/v1/models/clip", "GET, HEAD"},
		{http.MethodGet, "/tokenize", "POST"},
		{http.MethodPost, "/info", "GET, HEAD"},
		{http.MethodGet, "/models/clip", "POST"},
		{http.MethodDelete, "/models/clip", "GET, HEAD, POST"},
		{http.MethodGet, "/embed", "POST"},
		{http.MethodPost, "/health", "GET, HEAD"},
	} {
		resp, body := get(t, c.method, ts.URL+c.path, apiKey)
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "%s %s: %s", c.method, c.path, body)
		assert.Equal(t, c.allow, resp.Header.Get("Allow"), "%s %s", c.method, c.path)
		if strings.HasPrefix(c.path, "/v1/") {
			assert.Contains(t, string(body), `"code":"method_not_allowed"`)
		} else {
			assert.Contains(t, string(body), `"error":"`+c.method+` is not served for `+c.path)
		}
	}
	resp, _ := get(t, http.MethodGet, ts.URL+"/v1/chat/completions", apiKey)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, _ = get(t, http.MethodGet, ts.URL+"/models/not-served", apiKey)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	// Like every route: the key first (who has none learns no route), the
	// request's id echoed, and the OpenAI error shape under /v1/.
	resp, body := get(t, http.MethodGet, ts.URL+"/v1/embeddings", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, string(body), `"code":"invalid_api_key"`)
	resp, _ = get(t, http.MethodGet, ts.URL+"/nothing-here", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	req, err := http.NewRequest(http.MethodGet, ts.URL+"/v1/embeddings", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("X-Request-Id", "trace-405")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "trace-405", resp.Header.Get("X-Request-Id"))
}

// TestImageBodyByBytes: an image posted under a type that is not image/*
// (curl's application/octet-stream, --data-binary's
// application/x-www-form-urlencoded, none at all as @huggingface/inference
// sends it) is told by its bytes and embedded; a body that says JSON is
// read as JSON, and text starting with "BM" is no BMP.
func TestImageBodyByBytes(t *testing.T) {
	ts, _ := start(t, server.Config{})
	png, jpg := fixtures.Fixture("images", "red_circle.png"), fixtures.Fixture("images", "yellow_star.jpg")
	images := []string{png, jpg}
	if imageprep.Available(imageprep.HEIF) == nil {
		images = append(images, fixtures.Fixture("heif", "orient_6.heic"))
	}
	ref := references(t, nil, images)
	for _, p := range images {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		for _, ct := range []string{"application/octet-stream", "application/x-www-form-urlencoded", ""} {
			for _, url := range []string{ts.URL + "/models/clip", ts.URL, ts.URL + "/embed"} {
				resp, body := post(t, url, apiKey, ct, data)
				require.Equal(t, http.StatusOK, resp.StatusCode, "%s as %q to %s: %s", p, ct, url, body)
				var v []float32
				require.NoError(t, json.Unmarshal(body, &v))
				assertSame(t, ref.images[p], v, p+" as "+ct)
			}
		}
	}
	data, err := os.ReadFile(png)
	require.NoError(t, err)
	resp, body := post(t, ts.URL+"/models/clip", apiKey, "application/json", data)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "not valid JSON")
	resp, body = post(t, ts.URL+"/models/clip", apiKey, "text/plain", []byte("BMW and Mercedes"))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "not valid JSON")

	res := node(t, "testdata/hfjs_image.cjs", fixtures.NodeClients(t), ts.URL+"/models/clip", apiKey, jpg)
	require.Empty(t, res.Error)
	var v []float32
	require.NoError(t, json.Unmarshal(res.Output, &v))
	assertSame(t, ref.images[jpg], v, "@huggingface/inference's request with a Blob")
}

// tokenLimit is the tiny CLIP's token limit.
func tokenLimit(t *testing.T) int {
	m, err := newEmbedder(t).Model(context.Background(), clip)
	require.NoError(t, err)
	n, err := m.TokenLimit(context.Background())
	require.NoError(t, err)
	require.Positive(t, n)
	return n
}

// TestTruncateFalse: with "truncate": false a text over the model's limit
// is TEI's 413, with TEI's words and error_type, counted with the special
// tokens; one of more characters than TEI tokenizes is refused unread;
// truncate true or absent truncates as before, and texts within the limit
// are embedded either way.
func TestTruncateFalse(t *testing.T) {
	ts, _ := start(t, server.Config{})
	limit := tokenLimit(t)
	long := strings.TrimSpace(strings.Repeat("cat ", limit)) // limit words and two special tokens
	for _, url := range []string{ts.URL + "/models/clip", ts.URL + "/embed", ts.URL + "/hf-inference/models/clip/pipeline/feature-extraction"} {
		for _, inputs := range []string{`"` + long + `"`, `["a dog", "` + long + `"]`} {
			resp, body := post(t, url, apiKey, "application/json", []byte(`{"inputs": `+inputs+`, "truncate": false}`))
			require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s: %s", url, body)
			var e struct {
				Error     string `json:"error"`
				ErrorType string `json:"error_type"`
			}
			require.NoError(t, json.Unmarshal(body, &e))
			assert.Equal(t, "Input validation error: `inputs` must have less than "+itoa(limit)+" tokens. Given: "+itoa(limit+2), e.Error)
			assert.Equal(t, "Validation", e.ErrorType)
		}
		for _, truncate := range []string{``, `, "truncate": true`} {
			resp, body := post(t, url, apiKey, "application/json", []byte(`{"inputs": "`+long+`"`+truncate+`}`))
			assert.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, body)
		}
		resp, body := post(t, url, apiKey, "application/json", []byte(`{"inputs": ["a dog", "a cat"], "truncate": false}`))
		assert.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", url, body)
	}
	huge := strings.Repeat("x", limit*250+1)
	resp, body := post(t, ts.URL+"/models/clip", apiKey, "application/json", []byte(`{"inputs": "`+huge+`", "truncate": false}`))
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Contains(t, string(body), "must have less than "+itoa(limit*250)+" characters. Given: "+itoa(limit*250+1))
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestTEIInfo: GET /info as TEI's, for the one model served; with several,
// /info says where each one's is, and /models/{name}/info answers.
func TestTEIInfo(t *testing.T) {
	ts, _ := start(t, server.Config{MaxInputs: 16})
	limit := tokenLimit(t)
	resp, body := get(t, http.MethodGet, ts.URL+"/info", apiKey)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var info map[string]any
	require.NoError(t, json.Unmarshal(body, &info))
	assert.Equal(t, "clip", info["model_id"])
	assert.Equal(t, "clip", info["served_model_name"])
	assert.EqualValues(t, limit, info["max_input_length"])
	assert.EqualValues(t, 16, info["max_client_batch_size"])
	assert.EqualValues(t, 16*limit, info["max_batch_tokens"])
	assert.Equal(t, true, info["auto_truncate"])
	assert.Equal(t, "float32", info["model_dtype"])
	assert.Equal(t, hybridembed.Version, info["version"])
	assert.Equal(t, map[string]any{"embedding": map[string]any{"pooling": "last_token"}}, info["model_type"])
	for _, k := range []string{"model_sha", "max_batch_requests", "sha", "docker_label", "max_concurrent_requests", "tokenization_workers"} {
		assert.Contains(t, info, k)
	}
	resp, _ = get(t, http.MethodGet, ts.URL+"/info", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	two, _ := start(t, server.Config{Models: map[string]string{hubID: clip, "clip": clip}})
	resp, body = get(t, http.MethodGet, two.URL+"/info", apiKey)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), "give it the base URL /models/{model}")
	resp, body = get(t, http.MethodGet, two.URL+"/models/"+hubID+"/info", apiKey)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Contains(t, string(body), `"model_id":"`+hubID+`"`)
	// That base URL's /embed embeds with its model.
	resp, body = post(t, two.URL+"/models/"+hubID+"/embed", apiKey, "application/json", []byte(`{"inputs": "a dog"}`))
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))
}

type teiToken struct {
	ID      int    `json:"id"`
	Text    string `json:"text"`
	Special bool   `json:"special"`
	Start   *int   `json:"start"`
	Stop    *int   `json:"stop"`
}

// TestTEITokenize: POST /tokenize as TEI's: a list of tokens per input,
// with the model's own ids, the text each stands for, special tokens
// marked with null offsets, add_special_tokens, no truncation; its
// refusals with TEI's words.
func TestTEITokenize(t *testing.T) {
	ts, _ := start(t, server.Config{MaxInputs: 4})
	m, err := newEmbedder(t).Model(context.Background(), clip)
	require.NoError(t, err)
	text := "A photo of a cat"
	want, err := m.Tokenize(context.Background(), text, true)
	require.NoError(t, err)

	tokenize := func(url, body string) (int, [][]teiToken, string) {
		resp, b := post(t, url, apiKey, "application/json", []byte(body))
		var out [][]teiToken
		if resp.StatusCode == http.StatusOK {
			require.NoError(t, json.Unmarshal(b, &out), string(b))
		}
		return resp.StatusCode, out, string(b)
	}
	status, out, body := tokenize(ts.URL+"/tokenize", `{"inputs": "`+text+`"}`)
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, out, 1)
	require.Len(t, out[0], len(want))
	for i, tk := range out[0] {
		assert.Equal(t, want[i].ID, tk.ID)
		if i == 0 || i == len(out[0])-1 {
			assert.True(t, tk.Special)
			assert.Nil(t, tk.Start)
			assert.Nil(t, tk.Stop)
			continue
		}
		require.NotNil(t, tk.Start)
		assert.Equal(t, text[*tk.Start:*tk.Stop], tk.Text)
		assert.False(t, tk.Special)
	}
	assert.Equal(t, "A", out[0][1].Text)
	assert.Equal(t, "photo", out[0][2].Text)

	status, out, _ = tokenize(ts.URL+"/tokenize", `{"inputs": ["a dog", "`+text+`"], "add_special_tokens": false}`)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, out, 2)
	assert.Len(t, out[1], len(want)-2)
	for _, tk := range out[0] {
		assert.False(t, tk.Special)
	}

	limit := tokenLimit(t)
	long := strings.Repeat("cat ", 2*limit)
	status, out, _ = tokenize(ts.URL+"/tokenize", `{"inputs": "`+long+`"}`)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, out[0], 2*limit+2, "never truncated")

	for _, c := range []struct {
		body, want string
		status     int
	}{
		{`{"inputs": []}`, "`inputs` cannot be empty", 400},
		{`{"inputs": ""}`, "`inputs` cannot be empty", 400},
		{`{"inputs": ["a","b","c","d","e"]}`, "batch size 5 > maximum allowed batch size 4", 413},
		{`{"inputs": "` + strings.Repeat("y", limit*250+1) + `"}`, "must have less than " + itoa(limit*250) + " characters", 413},
		{`{"inputs": 5}`, "inputs must be a string or a list of strings", 422},
		{`{"inputs": "x", "prompt_name": "query"}`, "prompt_name", 422},
		{`{"inputs": "x", "model": "nope"}`, "not served here", 404},
	} {
		status, _, body := tokenize(ts.URL+"/tokenize", c.body)
		assert.Equal(t, c.status, status, "%.80s: %s", c.body, body)
		assert.Contains(t, body, c.want)
	}

	two, _ := start(t, server.Config{Models: map[string]string{hubID: clip, "clip": clip}})
	status, _, body = tokenize(two.URL+"/tokenize", `{"inputs": "a dog"}`)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body, "/models/{model}/tokenize")
	for _, c := range []struct{ url, body string }{
		{two.URL + "/tokenize", `{"inputs": "a dog", "model": "` + hubID + `"}`},
		{two.URL + "/models/" + hubID + "/tokenize", `{"inputs": "a dog"}`},
	} {
		status, out, body := tokenize(c.url, c.body)
		require.Equal(t, http.StatusOK, status, body)
		assert.Equal(t, "dog", out[0][2].Text)
	}
}

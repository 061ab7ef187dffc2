package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/server"
)

// TestUnauthorizedChallengesBearer: a 401 says how to authenticate, as RFC
// 6750 asks: WWW-Authenticate: Bearer with the realm, error="invalid_token"
// only where a token was sent and is wrong; the body stays the error
// OpenAI's and Hugging Face's clients read.
func TestUnauthorizedChallengesBearer(t *testing.T) {
	ts, _ := start(t, server.Config{})
	const (
		openAIBody = `{"error":{"message":"Missing or incorrect API key: send Authorization: Bearer KEY.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}` + "\n"
		hfBody     = `{"error":"Missing or incorrect API key: send Authorization: Bearer KEY."}` + "\n"
		noToken    = `Bearer realm="hybridembed"`
		badToken   = `Bearer realm="hybridembed", error="invalid_token", error_description="the API key is not one this server accepts"`
	)
	for _, tc := range []struct {
		name, method, path, key, body, challenge string
	}{
		{"OpenAI, no key", http.MethodPost, "/v1/embeddings", "", openAIBody, noToken},
		{"OpenAI, wrong key", http.MethodPost, "/v1/embeddings", "sk-wrong", openAIBody, badToken},
		{"models, wrong key", http.MethodGet, "/v1/models", "sk-wrong", openAIBody, badToken},
		{"HF, no key", http.MethodPost, "/models/clip", "", hfBody, noToken},
		{"HF, wrong key", http.MethodPost, "/models/clip", "sk-wrong", hfBody, badToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.method == http.MethodPost {
				body = []byte(`{"model": "clip", "input": "x", "inputs": "x"}`)
			}
			resp, got := send(t, tc.method, ts.URL+tc.path, tc.key, "application/json", body)
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, string(got))
			assert.Equal(t, tc.challenge, resp.Header.Get("WWW-Authenticate"))
			assert.Equal(t, tc.body, string(got))
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		})
	}
	resp, _ := send(t, http.MethodPost, ts.URL+"/v1/embeddings", apiKey, "application/json", []byte(`{"model": "clip", "input": "x"}`))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Empty(t, resp.Header.Get("WWW-Authenticate"), "no challenge on success")
}

// TestAuthSchemeIsCaseInsensitive: "bearer KEY" and extra spaces are the
// same credentials (RFC 7235 2.1); another scheme, or none, is not.
func TestAuthSchemeIsCaseInsensitive(t *testing.T) {
	ts, _ := start(t, server.Config{})
	for header, want := range map[string]int{
		"Bearer " + apiKey:        http.StatusOK,
		"bearer " + apiKey:        http.StatusOK,
		"BEARER  " + apiKey:       http.StatusOK,
		" Bearer " + apiKey + " ": http.StatusOK,
		"Basic " + apiKey:         http.StatusUnauthorized,
		apiKey:                    http.StatusUnauthorized,
		"Bearer ":                 http.StatusUnauthorized,
	} {
		req, err := http.NewRequest(http.MethodPost, ts.URL+"/v1/embeddings", strings.NewReader(`{"model": "clip", "input": "x"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", header)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, "Authorization: %q", header)
	}
}

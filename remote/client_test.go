package remote_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/remote"
	"github.com/hybridembed/hybridembed/remote/hftest"
)

const model = "sentence-transformers/all-MiniLM-L6-v2"

// fakeVectors is a deterministic embedding: one 4-wide vector per text.
func fakeVectors(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = []float32{float32(len(t)), 1, 2, float32(i)}
	}
	return out, nil
}

var fast = remote.RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxWait: 3 * time.Second}

func newClient(s *hftest.Server) *remote.Client {
	return &remote.Client{RouterURL: s.URL, HubURL: s.URL, Token: "hf_secret_token_123", Retry: fast, UserAgent: "hybridembed/test"}
}

// TestFaults runs every fault the emulator can inject against the client:
// what the caller gets, and how many requests it took.
func TestFaults(t *testing.T) {
	tests := []struct {
		name     string
		faults   []hftest.Fault
		wantErr  error  // nil: success
		contains string // in the error message
		requests int
	}{
		{"plain-text 404", []hftest.Fault{{Kind: hftest.PlainNotFound}}, remote.ErrNotServed, "404 Not Found (no provider serves", 1},
		{"JSON 404", []hftest.Fault{{Kind: hftest.JSONNotFound}}, remote.ErrNotServed, "does not exist", 1},
		{"401", []hftest.Fault{{Kind: hftest.Unauthorized}}, remote.ErrUnauthorized, "Invalid credentials", 1},
		{"403 gated", []hftest.Fault{{Kind: hftest.Forbidden}}, remote.ErrUnauthorized, "restricted", 1},
		{"402 credits", []hftest.Fault{{Kind: hftest.PaymentRequired}}, remote.ErrPayment, "credits", 1},
		{"422 list error", []hftest.Fault{{Kind: hftest.BadRequest}}, remote.ErrBadRequest, "less than 512 tokens", 1},
		{"503 loading then ok", []hftest.Fault{{Kind: hftest.Loading, EstimatedTime: 20 * time.Millisecond}}, nil, "", 2},
		{"429 then ok", []hftest.Fault{{Kind: hftest.RateLimited, RetryAfter: time.Second}}, nil, "", 2},
		{"500 then ok", []hftest.Fault{{Kind: hftest.ServerError}}, nil, "", 2},
		{"502 HTML then ok", []hftest.Fault{{Kind: hftest.BadGateway}}, nil, "", 2},
		{"504 then ok", []hftest.Fault{{Kind: hftest.GatewayTimeout}}, nil, "", 2},
		{"reset mid-body then ok", []hftest.Fault{{Kind: hftest.ResetMidBody}}, nil, "", 2},
		{"malformed JSON then ok", []hftest.Fault{{Kind: hftest.MalformedJSON}}, nil, "", 2},
		{"wrong count then ok", []hftest.Fault{{Kind: hftest.WrongCount}}, nil, "", 2},
		{"wrong dims then ok", []hftest.Fault{{Kind: hftest.WrongDims}}, nil, "", 2},
		{"HTML 200 then ok", []hftest.Fault{{Kind: hftest.HTMLBody}}, nil, "", 2},
		{"slow", []hftest.Fault{{Kind: hftest.Slow, Delay: 50 * time.Millisecond}}, nil, "", 1},
		{"500 until retries run out", hftest.Repeat(hftest.Fault{Kind: hftest.ServerError}, 4), remote.ErrServer, "giving up after 4 attempts", 4},
		{"502 until retries run out", hftest.Repeat(hftest.Fault{Kind: hftest.BadGateway}, 4), remote.ErrServer, "502 Bad Gateway", 4},
		{"malformed until retries run out", hftest.Repeat(hftest.Fault{Kind: hftest.MalformedJSON}, 4), remote.ErrMalformed, "malformed", 4},
		{"wrong dims until retries run out", hftest.Repeat(hftest.Fault{Kind: hftest.WrongDims}, 4), remote.ErrMalformed, "dimensions", 4},
		{"loading longer than allowed", []hftest.Fault{{Kind: hftest.Loading, EstimatedTime: time.Minute}}, remote.ErrLoading, "more than 3s", 1},
		{"413 splits the batch", []hftest.Fault{{Kind: hftest.TooLarge}}, nil, "", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := hftest.New(t)
			s.Serve(model, fakeVectors, false)
			s.Inject(model, tc.faults...)
			c := newClient(s)
			vecs, err := c.FeatureExtraction(context.Background(), model, []string{"a", "bb", "ccc"}, remote.Params{}, "")
			assert.Equal(t, tc.requests, s.Count("/hf-inference/"), "requests")
			if tc.wantErr == nil {
				require.NoError(t, err)
				require.Len(t, vecs, 3)
				assert.Equal(t, []float32{3, 1, 2}, vecs[2][:3])
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, tc.wantErr)
			assert.Contains(t, err.Error(), tc.contains)
			assert.NotContains(t, err.Error(), c.Token, "the token never appears in errors")
			if tc.wantErr == remote.ErrNotServed {
				assert.True(t, remote.IsNotServed(err))
				assert.False(t, remote.IsRetryable(err))
			}
		})
	}
}

// TestRetryRespectsDeadline: a wait that would pass the caller's deadline
// is not started.
func TestRetryRespectsDeadline(t *testing.T) {
	s := hftest.New(t)
	s.Serve(model, fakeVectors, false)
	s.Inject(model, hftest.Fault{Kind: hftest.Loading, EstimatedTime: 2 * time.Second})
	c := newClient(s)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.FeatureExtraction(ctx, model, []string{"x"}, remote.Params{}, "")
	// Had it waited, the answer would be the deadline, not the 503.
	assert.ErrorIs(t, err, remote.ErrLoading)
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "would pass the deadline")
	assert.Equal(t, 1, s.Count("/hf-inference/"))
}

func TestRequestShape(t *testing.T) {
	s := hftest.New(t)
	s.Serve(model, fakeVectors, false)
	s.RequireToken("hf_secret_token_123")
	c := newClient(s)
	c.MaxBatch = 2
	c.WaitForModel = true
	truncate := true
	vecs, err := c.FeatureExtraction(context.Background(), model, []string{"a", "bb", "ccc", "dddd", "eeeee"}, remote.Params{Truncate: &truncate}, "")
	require.NoError(t, err)
	require.Len(t, vecs, 5)
	for i, v := range vecs {
		assert.Equal(t, float32(i+1), v[0], "order is kept across split requests")
	}
	reqs := s.Requests()
	require.Len(t, reqs, 3, "5 inputs in requests of at most 2")
	r := reqs[0]
	assert.Equal(t, http.MethodPost, r.Method)
	assert.Equal(t, "/hf-inference/models/"+model+"/pipeline/feature-extraction", r.Path)
	assert.Equal(t, "Bearer hf_secret_token_123", r.Header.Get("Authorization"))
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	assert.Equal(t, "true", r.Header.Get("X-Wait-For-Model"))
	assert.Equal(t, "hybridembed/test", r.Header.Get("User-Agent"))
	// Parameters at the root, beside inputs: the feature-extraction schema.
	assert.Equal(t, `{"inputs":["a","bb"],"truncate":true}`, string(r.Body))

	// A wrong token: 401, and the token is not echoed anywhere.
	c.Token = "hf_wrong_token_456"
	_, err = c.FeatureExtraction(context.Background(), model, []string{"a"}, remote.Params{}, "")
	assert.True(t, remote.IsAuth(err))
	assert.NotContains(t, err.Error(), "hf_wrong_token_456")
}

func TestLargeInputsSplitBySize(t *testing.T) {
	s := hftest.New(t)
	s.Serve(model, fakeVectors, false)
	big := strings.Repeat("x", 200<<10)
	vecs, err := newClient(s).FeatureExtraction(context.Background(), model, []string{big, big, big, "short"}, remote.Params{}, "")
	require.NoError(t, err)
	assert.Len(t, vecs, 4)
	for _, r := range s.Requests() {
		assert.Less(t, len(r.Body), 1<<20, "each request stays under 1 MB")
	}
	assert.Equal(t, 2, s.Count("/hf-inference/"))
}

// TestResponseShapes: a single vector, token states pooled or refused.
func TestResponseShapes(t *testing.T) {
	s := hftest.New(t)
	s.Serve(model, fakeVectors, false)
	c := newClient(s)
	for _, pool := range []remote.Pooling{"mean", "cls", "max"} {
		s.Inject(model, hftest.Fault{Kind: hftest.TokenLevel})
		vecs, err := c.FeatureExtraction(context.Background(), model, []string{"a", "bb"}, remote.Params{}, pool)
		require.NoError(t, err, pool)
		assert.Equal(t, []float32{2, 1, 2, 1}, vecs[1], "pooling identical token states gives the vector back")
	}
	s.Inject(model, hftest.Fault{Kind: hftest.TokenLevel})
	_, err := c.FeatureExtraction(context.Background(), model, []string{"a", "bb"}, remote.Params{}, "")
	assert.ErrorContains(t, err, "token-level states")
}

// TestProviderMapping: the mapping is read in the Hub's order, in both of
// its forms, with the repo's current commit.
func TestProviderMapping(t *testing.T) {
	s := hftest.New(t)
	s.Serve(model, fakeVectors, false)
	s.Map("openai/clip-vit-base-patch32", map[string]any{})
	s.MapEntries("acme/staged", hftest.Entry{Provider: "hf-inference", Status: "staging", ProviderID: "acme/staged"})
	// Not alphabetical, not the registry's order: the account's.
	s.MapEntries("acme/three",
		hftest.Entry{Provider: "scaleway", Status: "live", ProviderID: "three-8b"},
		hftest.Entry{Provider: "hf-inference", Status: "staging", ProviderID: "acme/three"},
		hftest.Entry{Provider: "deepinfra", Status: "live", ProviderID: "acme/Three"},
		hftest.Entry{Provider: "together", Status: "error", ProviderID: "acme/three-t", Task: "sentence-similarity"},
		hftest.Entry{Provider: "nebius", Status: "live", ProviderID: "x"})
	s.SetCommit("acme/three", strings.Repeat("ab", 20))
	c := newClient(s)
	for _, list := range []bool{false, true} {
		s.MappingAsList(list)
		m, err := c.ProviderMapping(context.Background(), "acme/three")
		require.NoError(t, err)
		assert.Equal(t, []remote.MappingEntry{
			{Provider: "scaleway", Status: "live", ProviderID: "three-8b", Task: "feature-extraction"},
			{Provider: "hf-inference", Status: "staging", ProviderID: "acme/three", Task: "feature-extraction"},
			{Provider: "deepinfra", Status: "live", ProviderID: "acme/Three", Task: "feature-extraction"},
			{Provider: "together", Status: "error", ProviderID: "acme/three-t", Task: "sentence-similarity"},
			{Provider: "nebius", Status: "live", ProviderID: "x", Task: "feature-extraction"},
		}, m.Providers, "list form %v", list)
		assert.Equal(t, strings.Repeat("ab", 20), m.SHA)

		m, err = c.ProviderMapping(context.Background(), "openai/clip-vit-base-patch32")
		require.NoError(t, err)
		assert.Empty(t, m.Providers)
		m, err = c.ProviderMapping(context.Background(), model)
		require.NoError(t, err)
		e, ok := m.Entry("hf-inference")
		assert.True(t, ok && e.Live())
	}
	_, err := c.ProviderMapping(context.Background(), "acme/missing")
	assert.True(t, remote.IsNotServed(err))
	assert.Contains(t, err.Error(), "Repository not found")
}

func TestUnreachable(t *testing.T) {
	s := hftest.New(t)
	url := s.URL
	c := &remote.Client{RouterURL: url + "x", Retry: fast} // a port that refuses
	c.RouterURL = "http://127.0.0.1:1"
	_, err := c.FeatureExtraction(context.Background(), model, []string{"a"}, remote.Params{}, "")
	var te *remote.TransportError
	require.ErrorAs(t, err, &te)
	assert.True(t, remote.IsRetryable(err))
	assert.Contains(t, err.Error(), "giving up after 4 attempts")
	assert.False(t, errors.Is(err, remote.ErrNotServed))
	assert.True(t, strings.Contains(err.Error(), "127.0.0.1:1"))
}

func TestParseRetryAfter(t *testing.T) {
	s := hftest.New(t)
	s.Serve(model, fakeVectors, false)
	s.Inject(model, hftest.Fault{Kind: hftest.RateLimited, RetryAfter: 10 * time.Second})
	c := newClient(s)
	_, err := c.FeatureExtraction(context.Background(), model, []string{"a"}, remote.Params{}, "")
	var he *remote.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 10*time.Second, he.RetryAfter)
	assert.Contains(t, err.Error(), "more than 3s")
}

// TestTokenRedacted: a server that echoes the token back in an error body
// (a misconfigured proxy) does not get it into our error messages.
func TestTokenRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error": "rejected header %s"}`, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	c := &remote.Client{RouterURL: srv.URL, Token: "hf_secret_token_123", Retry: fast}
	_, err := c.FeatureExtraction(context.Background(), model, []string{"a"}, remote.Params{}, "")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hf_secret_token_123")
	assert.Contains(t, err.Error(), "[token redacted]")
}

// TestWireBody: every parameter the client sets goes at the root of the
// body, exactly; an unset one is left out.
func TestWireBody(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name   string
		params remote.Params
		want   string
	}{
		{"none", remote.Params{}, `{"inputs":["a"]}`},
		{"truncate", remote.Params{Truncate: &yes}, `{"inputs":["a"],"truncate":true}`},
		{"all", remote.Params{Normalize: &no, Truncate: &yes, PromptName: "query", TruncationDirection: "Left"},
			`{"inputs":["a"],"normalize":false,"truncate":true,"prompt_name":"query","truncation_direction":"Left"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := hftest.New(t)
			s.Serve(model, fakeVectors, false)
			_, err := newClient(s).FeatureExtraction(context.Background(), model, []string{"a"}, tc.params, "")
			require.NoError(t, err)
			require.Len(t, s.Requests(), 1)
			assert.Equal(t, tc.want, string(s.Requests()[0].Body))
		})
	}
}

// TestEmulatorIsStrict: the emulated route refuses what a TEI-backed server
// refuses, so a client that sends the wrong shape fails here first.
func TestEmulatorIsStrict(t *testing.T) {
	s := hftest.New(t)
	s.Serve(model, fakeVectors, false)
	s.Limit(model, 3, func(text string) int { return len(text) })
	post := func(body string) (int, string) {
		resp, err := http.Post(s.URL+"/hf-inference/models/"+model+"/pipeline/feature-extraction", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, body string
		status     int
		contains   string
	}{
		{"nested parameters", `{"inputs":["a"],"parameters":{"truncate":true}}`, 422, "unknown field `parameters`"},
		{"unknown field", `{"inputs":["a"],"pooling":"mean"}`, 422, "unknown field `pooling`"},
		{"wrong type", `{"inputs":["a"],"truncate":"yes"}`, 422, "truncate"},
		{"bad direction", `{"inputs":["a"],"truncation_direction":"Up"}`, 422, "unknown variant"},
		{"no inputs", `{"truncate":true}`, 422, "missing field `inputs`"},
		{"empty inputs", `{"inputs":[]}`, 400, "cannot be empty"},
		{"over the limit", `{"inputs":["a","abcdef"]}`, 413, "must have less than 3 tokens. Given: 6"},
		{"over the limit, truncate false", `{"inputs":["abcdef"],"truncate":false}`, 413, "Input validation error"},
		{"over the limit, truncated", `{"inputs":["a","abcdef"],"truncate":true}`, 200, "[[1,1,2,0],[6,1,2,1]]"},
		{"old options accepted", `{"inputs":"a","options":{"wait_for_model":true}}`, 200, "[1,1,2,0]"},
		{"normalize", `{"inputs":["ab"],"normalize":true}`, 200, "0.6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(tc.body)
			assert.Equal(t, tc.status, status, body)
			assert.Contains(t, body, tc.contains)
		})
	}
	// Through the client, the validation error is a 413 the client reports
	// (after halving the batch down to the one text over the limit).
	_, err := newClient(s).FeatureExtraction(context.Background(), model, []string{"a", "abcdef"}, remote.Params{}, "")
	assert.ErrorIs(t, err, remote.ErrTooLarge)
	assert.ErrorContains(t, err, "must have less than 3 tokens")
}

// TestErrorBodyShapes: the error text is found in each shape servers use.
func TestErrorBodyShapes(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"error":"Model is overloaded"}`, "Model is overloaded"},
		{`{"error":["first problem","second problem"]}`, "first problem; second problem"},
		{`{"detail":"Not allowed"}`, "Not allowed"},
		{`{"error":{"message":"Invalid input","type":"invalid_request_error"}}`, "Invalid input"},
	}
	for _, tc := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, tc.body)
		}))
		c := &remote.Client{RouterURL: srv.URL, Retry: fast}
		_, err := c.FeatureExtraction(context.Background(), model, []string{"a"}, remote.Params{}, "")
		srv.Close()
		var he *remote.HTTPError
		require.ErrorAs(t, err, &he, tc.body)
		assert.Equal(t, tc.want, he.Message, tc.body)
	}
}

package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Defaults for the zero Client.
const (
	DefaultRouterURL = "https://router.huggingface.co"
	DefaultHubURL    = "https://huggingface.co"
)

// Client talks to the Hugging Face router's inference providers that embed
// (see [Providers]) and to the Hub API. The zero value is usable (default
// URLs, no token, http.DefaultClient); Clients are safe for concurrent use
// and should be reused.
type Client struct {
	RouterURL string // default DefaultRouterURL
	HubURL    string // default DefaultHubURL
	// Token is the Hugging Face access token, sent to the router and the
	// Hub only; "" sends none. The Client never reads the environment
	// itself, so that "" can mean no token: callers that want $HF_TOKEN
	// set Token to [TokenFromEnv] (hybridembed.New does, unless
	// WithToken or WithoutEnvironment says otherwise).
	Token      string
	HTTPClient *http.Client
	UserAgent  string
	Retry      RetryPolicy
	// MaxInputs sets, per provider, the most inputs one request carries
	// (default [DefaultMaxInputs]: the provider's published limit, or a
	// conservative default); longer lists are split and reassembled in
	// order.
	MaxInputs map[string]int
	// MaxBatch, when > 0, caps inputs per request for every provider.
	MaxBatch int
	// WaitForModel sends X-Wait-For-Model: true, asking the router to hold
	// the request while a cold model loads rather than answer 503.
	WaitForModel bool
	// Logf receives retry notes; nil discards them.
	Logf func(format string, args ...any)
}

// RetryPolicy bounds retries of loading (503), rate-limited (429), server
// (5xx) and transport failures. Every wait also stays inside the caller's
// context deadline. Zero fields take the defaults.
type RetryPolicy struct {
	MaxAttempts int           // default 4
	BaseDelay   time.Duration // first backoff, doubled each time, jittered (default 500ms)
	MaxDelay    time.Duration // backoff cap (default 8s)
	// MaxWait is the longest single wait a server may ask for with
	// estimated_time or Retry-After (default 30s); longer asks end the retries.
	MaxWait time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 4
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 500 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 8 * time.Second
	}
	if p.MaxWait <= 0 {
		p.MaxWait = 30 * time.Second
	}
	return p
}

// TokenFromEnv returns $HF_TOKEN (or the older $HUGGING_FACE_HUB_TOKEN), else
// the token huggingface_hub stored in tokenPath.
func TokenFromEnv(tokenPath string) string {
	for _, k := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v
		}
	}
	if tokenPath != "" {
		if b, err := os.ReadFile(tokenPath); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

func (c *Client) router() string { return strings.TrimRight(or(c.RouterURL, DefaultRouterURL), "/") }
func (c *Client) hub() string    { return strings.TrimRight(or(c.HubURL, DefaultHubURL), "/") }

// Router is the router's base URL as requests use it (the default when
// RouterURL is "", without a trailing slash): what routing memory is keyed
// by.
func (c *Client) Router() string { return c.router() }

// Hub is the Hub's base URL as requests use it.
func (c *Client) Hub() string { return c.hub() }

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// httpClient is the caller's client (or the default) with a redirect
// policy that keeps the token on the router and the Hub: a redirect to any
// other host (a CDN) goes without it.
func (c *Client) httpClient() *http.Client {
	base := http.DefaultClient
	if c.HTTPClient != nil {
		base = c.HTTPClient
	}
	cc := *base
	prev := base.CheckRedirect
	cc.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if !c.trusted(r.URL) {
			r.Header.Del("Authorization")
		}
		if prev != nil {
			return prev(r, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}

// trusted reports whether u is the router or the Hub: the only hosts that
// see the token.
func (c *Client) trusted(u *url.URL) bool {
	for _, base := range []string{c.router(), c.hub()} {
		if b, err := url.Parse(base); err == nil && strings.EqualFold(b.Host, u.Host) {
			return true
		}
	}
	return false
}

// authorize sets the headers every request carries: the token (only for
// the router and the Hub) and the User-Agent.
func (c *Client) authorize(req *http.Request) {
	if c.Token != "" && c.trusted(req.URL) {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	req.Header.Set("User-Agent", or(c.UserAgent, "hybridembed"))
}

func (c *Client) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// HasToken reports whether a token is configured.
func (c *Client) HasToken() bool { return c.Token != "" }

// redact removes the token from anything that may reach an error or a log.
func (c *Client) redact(s string) string {
	if c.Token == "" || len(c.Token) < 4 {
		return s
	}
	return strings.ReplaceAll(s, c.Token, "[token redacted]")
}

// modelPath escapes each segment of an "org/name" id.
func modelPath(model string) string {
	parts := strings.Split(model, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// maxRequestBytes bounds the texts in one request.
const maxRequestBytes = 512 << 10

// maxResponse bounds a 200 body (token-level outputs can be large).
const maxResponse = 256 << 20

// attempt sends one request and returns its 200 body, or an *HTTPError or
// *TransportError.
func (c *Client) attempt(ctx context.Context, model, method, u string, body []byte, accept string) ([]byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	c.authorize(req)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", accept)
	if c.WaitForModel && method == http.MethodPost {
		req.Header.Set("X-Wait-For-Model", "true")
	}
	shown := stripQuery(u)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		var ue *url.Error // its message repeats the URL the TransportError names
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, &TransportError{Model: model, URL: shown, Err: errors.New(c.redact(err.Error()))}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, nil, newHTTPError(model, shown, resp, b, c.redact)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, &TransportError{Model: model, URL: shown, Err: fmt.Errorf("reading body: %s", c.redact(err.Error()))}
	}
	if len(b) > maxResponse {
		return nil, nil, &TransportError{Model: model, URL: shown, Err: fmt.Errorf("%w: body over %d bytes", ErrMalformed, maxResponse)}
	}
	if accept == "application/json" {
		if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "application/json" && !strings.HasSuffix(ct, "+json") {
			return nil, nil, &TransportError{Model: model, URL: shown, Err: fmt.Errorf("%w: 200 with Content-Type %q, not JSON: %s", ErrMalformed, ct, c.redact(firstLine(b)))}
		}
	}
	return b, resp.Header, nil
}

// do runs attempt, and parse on its body, with the retry policy: loading
// models are waited for as long as they say (capped), 429s as long as
// Retry-After says, 5xx, transport failures and bodies parse rejects (a
// garbled answer) with jittered exponential backoff; never past ctx's
// deadline.
func (c *Client) do(ctx context.Context, model, method, u string, body []byte, accept string, parse func([]byte) error) error {
	return c.retry(ctx, model, func() error {
		b, _, err := c.attempt(ctx, model, method, u, body, accept)
		if err == nil && parse != nil {
			if perr := parse(b); errors.Is(perr, ErrMalformed) {
				err = &TransportError{Model: model, URL: stripQuery(u), Err: perr} // garbled: worth another try
			} else if perr != nil {
				return permanent{fmt.Errorf("%s: %w", stripQuery(u), perr)} // a well-formed answer we cannot use
			}
		}
		return err
	})
}

// permanent marks an error that retry must return at once.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// retry runs try with the retry policy: loading models are waited for as
// long as they say (capped), 429s as long as Retry-After says, 5xx and
// transport failures with jittered exponential backoff; never past ctx's
// deadline.
func (c *Client) retry(ctx context.Context, model string, try func() error) error {
	p := c.Retry.withDefaults()
	for n := 1; ; n++ {
		err := try()
		if pe, ok := err.(permanent); ok {
			return pe.error
		}
		if err == nil || !IsRetryable(err) || ctx.Err() != nil {
			return err
		}
		if n >= p.MaxAttempts {
			if n == 1 {
				return err
			}
			return fmt.Errorf("giving up after %d attempts: %w", n, err)
		}
		wait := backoff(p, n)
		var he *HTTPError
		if errors.As(err, &he) {
			switch {
			case he.EstimatedTime > 0:
				wait = he.EstimatedTime
			case he.RetryAfter > 0:
				wait = he.RetryAfter
			}
		}
		if wait > p.MaxWait {
			return fmt.Errorf("not retrying: the server asks to wait %s, more than %s: %w", wait.Round(time.Second), p.MaxWait, err)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return fmt.Errorf("not retrying: the next attempt (in %s) would pass the deadline: %w", wait.Round(time.Millisecond), err)
		}
		c.logf("%s: attempt %d failed (%v); retrying in %s", model, n, err, wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// stripQuery drops a URL's query from what errors and logs show.
func stripQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// backoff is "full jitter" exponential backoff for attempt n (1-based).
func backoff(p RetryPolicy, n int) time.Duration {
	d := p.BaseDelay << min(n-1, 16)
	if d > p.MaxDelay || d <= 0 {
		d = p.MaxDelay
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Params are the feature-extraction parameters (text-embeddings-inference's
// set); nil fields are left to the server. Only hf-inference takes them:
// the OpenAI-shaped providers' bodies carry the inputs and the model.
type Params struct {
	Normalize           *bool  `json:"normalize,omitempty"`
	Truncate            *bool  `json:"truncate,omitempty"`
	PromptName          string `json:"prompt_name,omitempty"`
	TruncationDirection string `json:"truncation_direction,omitempty"` // "Left" or "Right"
}

// Pooling says how to pool token-level outputs ("mean", "cls", "max"); ""
// refuses them.
type Pooling string

// Target is one provider's deployment of a model.
type Target struct {
	Provider string // a provider hybridembed has an adapter for ([Providers])
	// ProviderID is the model's id at the provider: the mapping's
	// providerId (for hf-inference, the Hub id).
	ProviderID string
	Model      string // the Hub id, for errors
}

// ErrUnknownProvider is returned for a Target whose provider has no
// adapter.
var ErrUnknownProvider = errors.New("unknown inference provider")

// EmbeddingsURL is the route that serves t's embeddings through the
// router.
func (c *Client) EmbeddingsURL(t Target) string {
	a, ok := registry[t.Provider]
	if !ok {
		return c.router() + "/" + url.PathEscape(t.Provider)
	}
	return c.router() + "/" + t.Provider + "/" + a.route(t.ProviderID)
}

// FeatureExtractionURL is hf-inference's route for model.
func (c *Client) FeatureExtractionURL(model string) string {
	return c.EmbeddingsURL(Target{Provider: HFInference, ProviderID: model, Model: model})
}

// FeatureExtraction embeds inputs with model on hf-inference; see
// [Client.Embed].
func (c *Client) FeatureExtraction(ctx context.Context, model string, inputs []string, params Params, pool Pooling) ([][]float32, error) {
	return c.Embed(ctx, Target{Provider: HFInference, ProviderID: model, Model: model}, inputs, params, pool)
}

// maxInputs is the most inputs one request to provider carries.
func (c *Client) maxInputs(provider string) int {
	n := DefaultMaxInputs(provider)
	if m := c.MaxInputs[provider]; m > 0 {
		n = m
	}
	if c.MaxBatch > 0 && c.MaxBatch < n {
		n = c.MaxBatch
	}
	return max(n, 1)
}

// Embed returns one vector per input from t's provider, in input order,
// with the HF token as the bearer (as the official clients send it to
// the router). Inputs are sent in requests of at most the provider's
// maximum inputs (see [Client.MaxInputs]), halved again on 413, and
// reassembled in order. Token-level answers are pooled as pool says, or
// refused when pool is "".
func (c *Client) Embed(ctx context.Context, t Target, inputs []string, params Params, pool Pooling) ([][]float32, error) {
	a, ok := registry[t.Provider]
	if !ok {
		return nil, fmt.Errorf("model %s: %w %q (known: %s)", t.Model, ErrUnknownProvider, t.Provider, strings.Join(Providers(), ", "))
	}
	if len(inputs) == 0 {
		return nil, nil
	}
	batch := c.maxInputs(t.Provider)
	out := make([][]float32, 0, len(inputs))
	for start := 0; start < len(inputs); {
		// Bounded by count and by size: well under 1 MB of JSON a request.
		end, size := start, 0
		for end < len(inputs) && end-start < batch && (end == start || size+len(inputs[end]) <= maxRequestBytes) {
			size += len(inputs[end]) + 8
			end++
		}
		vecs, err := c.embedBatch(ctx, a, t, inputs[start:end], params, pool)
		if err != nil {
			return nil, err
		}
		out = append(out, vecs...)
		start = end
	}
	if err := sameWidth(out); err != nil {
		return nil, &TransportError{Model: t.Model, URL: c.EmbeddingsURL(t), Err: err}
	}
	return out, nil
}

func (c *Client) embedBatch(ctx context.Context, a adapter, t Target, inputs []string, params Params, pool Pooling) ([][]float32, error) {
	body, err := a.body(t.ProviderID, inputs, params)
	if err != nil {
		return nil, err
	}
	var vecs [][]float32
	err = c.do(ctx, t.Model, http.MethodPost, c.EmbeddingsURL(t), body, "application/json", func(b []byte) error {
		var perr error
		vecs, perr = a.parse(b, len(inputs), pool)
		return perr
	})
	if errors.Is(err, ErrTooLarge) && len(inputs) > 1 {
		half := len(inputs) / 2
		first, err := c.embedBatch(ctx, a, t, inputs[:half], params, pool)
		if err != nil {
			return nil, err
		}
		rest, err := c.embedBatch(ctx, a, t, inputs[half:], params, pool)
		if err != nil {
			return nil, err
		}
		return append(first, rest...), nil
	}
	return vecs, err
}

func sameWidth(vecs [][]float32) error {
	for i, v := range vecs {
		if len(v) == 0 {
			return fmt.Errorf("%w: vector %d is empty", ErrMalformed, i)
		}
		if len(v) != len(vecs[0]) {
			return fmt.Errorf("%w: vector %d has %d dimensions, vector 0 has %d", ErrMalformed, i, len(v), len(vecs[0]))
		}
	}
	return nil
}

// hubGet fetches a Hub API path as JSON into v.
func (c *Client) hubGet(ctx context.Context, model, path string, v any) error {
	return c.do(ctx, model, http.MethodGet, c.hub()+path, nil, "application/json", func(b []byte) error {
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return nil
	})
}

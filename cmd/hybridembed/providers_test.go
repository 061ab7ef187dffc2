package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/models/modelstest"
	"github.com/hybridembed/hybridembed/remote/hftest"
)

const qwen = "Qwen/Qwen3-Embedding-8B"

// TestHungHubRuns: with a Hub that accepts connections and never answers,
// three consecutive runs for a cached model wait for it once: the first
// run's failed lookup is remembered in the routing state file, so the next
// two neither ask it nor wait (bounds are generous; the request count is
// the point).
func TestHungHubRuns(t *testing.T) {
	s, hub := online(t)
	modelstest.Cache(t, hub, miniLM, fixtures.Fixture("models", "tiny-st"))
	s.ServeReference(t, miniLM, fixtures.TinySTReference(t))
	s.InjectHub("", hftest.Repeat(hftest.Fault{Kind: hftest.Hang}, 10)...)
	t.Setenv("HF_HUB_ETAG_TIMEOUT", "1")
	var took []time.Duration
	for i := range 3 {
		start := time.Now()
		r := runCLI(t, "", "text", "--model", miniLM, "hi")
		took = append(took, time.Since(start))
		require.Equal(t, exitOK, r.code, r.stderr)
		rec := records(t, r.stdout)[0]
		assert.Equal(t, "local", rec["backend"])
		assert.Contains(t, rec["reason"], "could not be asked")
		assert.Equal(t, 1, s.Count("/api/models/"), "run %d: the Hub is asked once", i+1)
	}
	t.Logf("runs took %v", took)
	assert.Less(t, took[0], 12*time.Second)
	assert.GreaterOrEqual(t, took[0], 900*time.Millisecond, "the first run waited for the Hub")
	assert.Less(t, took[1], 2*time.Second)
	assert.Less(t, took[2], 2*time.Second)
	assert.Zero(t, s.Count("/hf-inference/"))
}

// TestProviderFlag: JSON Lines name the provider; --provider restricts and
// orders the chain; an unknown name is refused.
func TestProviderFlag(t *testing.T) {
	s, _ := online(t)
	s.ServeProvider("scaleway", qwen, "qwen3-embedding-8b", hftest.Filler(8), true)
	s.ServeProvider("deepinfra", qwen, qwen, hftest.Filler(8), true)
	r := runCLI(t, "", "text", "--model", qwen, "a", "b")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, rec := range records(t, r.stdout) {
		assert.Equal(t, "remote", rec["backend"])
		assert.Equal(t, "scaleway", rec["provider"])
	}
	r = runCLI(t, "", "text", "--provider", "deepinfra,scaleway", "--model", qwen, "a")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "deepinfra", records(t, r.stdout)[0]["provider"])
	r = runCLI(t, "", "text", "--provider", "nebius", "--model", qwen, "a")
	assert.Equal(t, exitFatal, r.code)
	assert.Contains(t, r.stderr, `hybridembed: --provider: "nebius": want auto, or some of`)
}

// TestResolveChain: resolve shows each provider with its id, status and
// why it is tried or skipped, probes each one tried, and tells a stale
// mapping; --refresh forgets the remembered 404.
func TestResolveChain(t *testing.T) {
	s, _ := online(t)
	s.ServeProvider("scaleway", qwen, "qwen3-embedding-8b", hftest.Filler(8), true)
	s.MapEntries(qwen,
		hftest.Entry{Provider: "together", Status: "live", ProviderID: "gone-id"},
		hftest.Entry{Provider: "hf-inference", Status: "staging", ProviderID: qwen},
		hftest.Entry{Provider: "scaleway", Status: "live", ProviderID: "qwen3-embedding-8b"},
		hftest.Entry{Provider: "nebius", Status: "live", ProviderID: "q"})
	var out struct {
		Backend   string `json:"backend"`
		Providers []struct {
			Provider, Status, Why string
			ProviderID            string     `json:"provider_id"`
			Use                   bool       `json:"use"`
			NotServedUntil        *time.Time `json:"not_served_until"`
		} `json:"providers"`
		Probes []struct {
			Provider, Status string
		} `json:"probes"`
		Diagnosis string `json:"diagnosis"`
	}
	resolve := func(args ...string) {
		t.Helper()
		r := runCLI(t, "", append([]string{"resolve", "--json"}, append(args, qwen)...)...)
		require.Equal(t, exitOK, r.code, r.stderr)
		out.Providers, out.Probes, out.Diagnosis = nil, nil, ""
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	}
	resolve()
	assert.Equal(t, "remote", out.Backend)
	require.Len(t, out.Providers, 4)
	for i, want := range []struct {
		provider, id, status, why string
		use                       bool
	}{
		{"together", "gone-id", "live", "live on the Hub", true},
		{"hf-inference", qwen, "staging", "staging", false},
		{"scaleway", "qwen3-embedding-8b", "live", "live on the Hub", true},
		{"nebius", "q", "live", "no adapter", false},
	} {
		p := out.Providers[i]
		assert.Equal(t, want.provider, p.Provider)
		assert.Equal(t, want.id, p.ProviderID)
		assert.Equal(t, want.status, p.Status)
		assert.Contains(t, p.Why, want.why)
		assert.Equal(t, want.use, p.Use, want.provider)
	}
	require.Len(t, out.Probes, 2)
	assert.Equal(t, "not-served", out.Probes[0].Status)
	assert.Equal(t, "ok", out.Probes[1].Status)
	assert.Contains(t, out.Diagnosis, "served: scaleway")
	assert.Contains(t, out.Diagnosis, "together answered 404 although the Hub maps it there (a stale mapping)")

	text := runCLI(t, "", "resolve", qwen)
	require.Equal(t, exitOK, text.code, text.stderr)
	assert.Regexp(t, `try\s+together\s+gone-id\s+live\s+live on the Hub`, text.stdout)
	assert.Regexp(t, `skip\s+hf-inference\s+`+qwen+`\s+staging`, text.stdout)

	// A text run remembers together's 404 (scaleway answered after it)...
	r := runCLI(t, "", "text", "--model", qwen, "a")
	require.Equal(t, exitOK, r.code, r.stderr)
	resolve("--no-probe")
	assert.False(t, out.Providers[0].Use)
	assert.NotNil(t, out.Providers[0].NotServedUntil)
	// ...and --refresh forgets it.
	resolve("--no-probe", "--refresh")
	assert.True(t, out.Providers[0].Use)
	assert.Nil(t, out.Providers[0].NotServedUntil)
}

// TestNotCachedSaysItOnce: a model the router cannot embed and that is
// not cached gets one line with one explanation and the command to run.
func TestNotCachedSaysItOnce(t *testing.T) {
	s, _ := online(t)
	s.ServeProvider("together", qwen, "q", hftest.Filler(8), true)
	s.InjectProvider("together", qwen, hftest.Repeat(hftest.Fault{Kind: hftest.BadGateway}, 5)...)
	r := runCLI(t, "", "text", "--model", qwen, "a")
	assert.Equal(t, exitFatal, r.code)
	line := strings.TrimSpace(r.stderr)
	assert.NotContains(t, line, "\n")
	assert.Equal(t, 1, strings.Count(line, "not cached"), line)
	assert.NotContains(t, line, "local model", line)
	assert.NotContains(t, line, "neither", line)
	assert.Contains(t, line, "502 Bad Gateway")
	assert.True(t, strings.HasSuffix(line, "fetch it with `hybridembed models pull "+qwen+"`"), line)
}

// TestServeProviderModel: `serve --model Qwen/Qwen3-Embedding-8B` serves a
// model only scaleway embeds, not cached here, through the router with
// the server's token; the answer names the provider.
func TestServeProviderModel(t *testing.T) {
	s, _ := online(t)
	s.ServeProvider("scaleway", qwen, "qwen3-embedding-8b", hftest.Filler(8), true)
	lib, err := ort.Init(ort.Config{}) // loaded already: where from, for the child, whose cache is elsewhere
	require.NoError(t, err)
	cmd := cliChild([]string{"HF_HUB_OFFLINE=", "ONNXRUNTIME_LIB=" + lib}, "serve", "--addr", "127.0.0.1:0", "--model", qwen)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, stderr.String())
	base := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	var resp *http.Response
	require.Eventually(t, func() bool {
		resp, err = http.Post(base+"/v1/embeddings", "application/json", strings.NewReader(`{"model": "`+qwen+`", "input": ["a", "b"]}`))
		if err != nil {
			return false
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return false
		}
		return true
	}, 20*time.Second, 50*time.Millisecond)
	require.NotNil(t, resp, stderr.String())
	defer resp.Body.Close()
	assert.Equal(t, "remote", resp.Header.Get("X-Hybridembed-Backend"))
	assert.Equal(t, "scaleway", resp.Header.Get("X-Hybridembed-Provider"))
	var out struct {
		Data []struct{ Embedding []float32 } `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Len(t, out.Data, 2)
	assert.Len(t, out.Data[0].Embedding, 8)
	var sent *hftest.Request
	for _, r := range s.Requests() {
		if r.Path == "/scaleway/v1/embeddings" {
			sent = &r
		}
	}
	require.NotNil(t, sent)
	assert.Equal(t, "Bearer hf_cli_token", sent.Header.Get("Authorization"), "the server's token")
	assert.Contains(t, string(sent.Body), `"model":"qwen3-embedding-8b"`)
}

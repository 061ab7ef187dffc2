package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/models/modelstest"
	"github.com/hybridembed/hybridembed/remote/hftest"
)

const miniLM = "sentence-transformers/all-MiniLM-L6-v2"

// online sets up a machine with a token and an emulated router and Hub.
func online(t *testing.T) (*hftest.Server, string) {
	t.Helper()
	home := isolate(t)
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("HF_TOKEN", "hf_cli_token")
	t.Setenv("HYBRIDEMBED_CACHE", t.TempDir())
	s := hftest.New(t)
	t.Setenv("HYBRIDEMBED_ROUTER_URL", s.URL)
	t.Setenv("HF_ENDPOINT", s.URL)
	return s, filepath.Join(home, "hub")
}

func TestTextRouting(t *testing.T) {
	t.Run("served: remote", func(t *testing.T) {
		s, _ := online(t)
		s.ServeReference(t, miniLM, fixtures.TinySTReference(t))
		r := runCLI(t, "", "text", "--model", miniLM, "hi")
		require.Equal(t, exitOK, r.code, r.stderr)
		rec := records(t, r.stdout)[0]
		assert.Equal(t, "remote", rec["backend"])
		assert.Len(t, rec["embedding"], 48)
	})
	t.Run("404ing router, cached: local with the reason", func(t *testing.T) {
		s, hub := online(t)
		modelstest.Cache(t, hub, miniLM, fixtures.Fixture("models", "tiny-st"))
		s.ServeReference(t, miniLM, fixtures.TinySTReference(t))
		s.Inject(miniLM, hftest.Fault{Kind: hftest.PlainNotFound})
		r := runCLI(t, "", "text", "--model", miniLM, "hi")
		require.Equal(t, exitOK, r.code, r.stderr)
		rec := records(t, r.stdout)[0]
		assert.Equal(t, "local", rec["backend"])
		assert.Contains(t, rec["reason"], "404")
	})
	t.Run("unreachable router, cached: local", func(t *testing.T) {
		_, hub := online(t)
		modelstest.Cache(t, hub, miniLM, fixtures.Fixture("models", "tiny-st"))
		r := runCLI(t, "", "text", "--model", miniLM, "--router-url", "http://127.0.0.1:1", "--hub-url", "http://127.0.0.1:1", "hi")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "local", records(t, r.stdout)[0]["backend"])
	})
	t.Run("neither served nor cached: one actionable line", func(t *testing.T) {
		s, _ := online(t)
		s.Map(miniLM, map[string]any{})
		r := runCLI(t, "", "text", "--no-download", "--model", miniLM, "hi")
		assert.Equal(t, exitFatal, r.code)
		assert.Empty(t, r.stdout)
		line := strings.TrimSpace(r.stderr)
		assert.NotContains(t, line, "\n")
		assert.Contains(t, line, miniLM)
		assert.Contains(t, line, "no inference provider serves it")
		assert.Contains(t, line, "hybridembed models pull "+miniLM)
	})
}

func TestResolveCommand(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(s *hftest.Server)
		args      []string
		backend   string
		diagnosis string
	}{
		{"served", func(s *hftest.Server) { s.ServeReference(t, miniLM, fixtures.TinySTReference(t)) }, nil, "remote", "served"},
		{"warming up", func(s *hftest.Server) {
			s.ServeReference(t, miniLM, fixtures.TinySTReference(t))
			s.Inject(miniLM, hftest.Fault{Kind: hftest.Loading, EstimatedTime: 20e9}, hftest.Fault{Kind: hftest.Loading, EstimatedTime: 20e9}) // one per run
		}, nil, "remote", "warming up"},
		{"not served", func(s *hftest.Server) { s.Map(miniLM, map[string]any{}) }, nil, "local", "not served"},
		{"wrong URL", func(s *hftest.Server) { s.ServeReference(t, miniLM, fixtures.TinySTReference(t)) },
			[]string{"--router-url", "ROUTER/v1/embeddings"}, "remote", "wrong URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, hub := online(t)
			modelstest.Cache(t, hub, miniLM, fixtures.Fixture("models", "tiny-st"))
			tc.setup(s)
			args := []string{"resolve", "--json", miniLM}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "ROUTER", s.URL))
			}
			r := runCLI(t, "", args...)
			require.Equal(t, exitOK, r.code, r.stderr)
			var out map[string]any
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
			assert.Equal(t, tc.backend, out["backend"])
			assert.Contains(t, out["diagnosis"], tc.diagnosis)
			assert.Contains(t, out, "evidence")
			assert.NotContains(t, r.stdout, "hf_cli_token")

			text := runCLI(t, "", append([]string{"resolve"}, args[2:]...)...)
			require.Equal(t, exitOK, text.code)
			assert.Contains(t, text.stdout, "diagnosis: "+tc.diagnosis)
		})
	}
}

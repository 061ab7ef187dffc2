package hybridembed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/remote/hftest"
)

const (
	qwen = "Qwen/Qwen3-Embedding-8B"
	e5   = "intfloat/multilingual-e5-large-instruct"
)

func manyTexts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("sentence %d of the batch", i)
	}
	return out
}

// TestEachProviderRoute: a together-only, a scaleway-only and a
// deepinfra-only model are each embedded through their own route under
// their provider id; 70 inputs come back in input order although the
// emulator shuffles data, and every vector names its provider.
func TestEachProviderRoute(t *testing.T) {
	for _, tc := range []struct{ provider, route, id string }{
		{"together", "/together/v1/embeddings", e5},
		{"scaleway", "/scaleway/v1/embeddings", "qwen3-embedding-8b"},
		{"deepinfra", "/deepinfra/v1/openai/embeddings", "Qwen/Qwen3-Embedding-8B-batch"},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			w := newWorld(t)
			w.srv.ServeProvider(tc.provider, qwen, tc.id, hftest.Filler(16), true)
			in := manyTexts(70)
			embs, err := w.embedder().EmbedTexts(context.Background(), qwen, in)
			require.NoError(t, err)
			want, _ := hftest.Filler(16)(context.Background(), in)
			for i, e := range embs {
				assert.Equal(t, hybridembed.BackendRemote, e.Backend)
				assert.Equal(t, tc.provider, e.Provider)
				assert.Contains(t, e.Reason, "the Hub maps it to "+tc.provider+" (live)")
				assert.True(t, e.Normalized)
				assert.InDelta(t, 1, hybridembed.Cosine(e.Vector, want[i]), 1e-6, "input %d got another input's vector", i)
			}
			n := 0
			for _, r := range w.srv.Requests() {
				if r.Path != tc.route {
					continue
				}
				n++
				var body map[string]any
				require.NoError(t, json.Unmarshal(r.Body, &body))
				assert.Equal(t, tc.id, body["model"])
				assert.Equal(t, "Bearer hf_test_token_abc", r.Header.Get("Authorization"))
			}
			assert.Positive(t, n)
			assert.Zero(t, w.srv.Count("/hf-inference/"))
		})
	}
}

// TestProviderOrder: with two live providers the first listed answers,
// whichever it is; WithProviders reorders and restricts.
func TestProviderOrder(t *testing.T) {
	for _, order := range [][]string{{"scaleway", "together"}, {"together", "scaleway"}} {
		w := newWorld(t)
		for _, p := range order {
			w.srv.ServeProvider(p, qwen, p+"-id", hftest.Filler(8), true)
		}
		embs, err := w.embedder().EmbedTexts(context.Background(), qwen, []string{"a"})
		require.NoError(t, err)
		assert.Equal(t, order[0], embs[0].Provider)
		assert.Zero(t, w.srv.Count("/"+order[1]+"/"), "the second is not asked")

		embs, err = w.embedder(hybridembed.WithProviders(order[1])).EmbedTexts(context.Background(), qwen, []string{"a"})
		require.NoError(t, err)
		assert.Equal(t, order[1], embs[0].Provider, "WithProviders overrides the Hub's order")

		d, err := w.embedder(hybridembed.WithProviders("deepinfra")).Resolve(context.Background(), qwen, hybridembed.ModalityText)
		require.NoError(t, err)
		assert.Equal(t, hybridembed.BackendLocal, d.Backend)
		assert.Equal(t, "unmapped", d.Providers[0].Status)
		assert.Contains(t, d.Reason, "deepinfra: the Hub does not map the model to it")
	}
	_, err := hybridembed.New(hybridembed.WithProviders("nebius"))
	var oe *hybridembed.OptionError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, hybridembed.OptionError{Option: "WithProviders", Value: `"nebius"`, Want: "auto, or some of deepinfra, hf-inference, scaleway, together, each once"}, *oe)
}

// TestStagingNeverUsed: a staging entry is skipped even when its route
// would answer; a staging-only model stays local without a request.
func TestStagingNeverUsed(t *testing.T) {
	w := newWorld(t)
	w.cache(miniLM, "tiny-st")
	w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t)) // the route answers...
	w.srv.ServeProvider("deepinfra", miniLM, miniLM, hftest.Filler(48), true)
	w.srv.MapEntries(miniLM,
		hftest.Entry{Provider: "hf-inference", Status: "staging", ProviderID: miniLM}, // ...but the Hub says staging
		hftest.Entry{Provider: "deepinfra", Status: "live", ProviderID: miniLM})
	embs, err := w.embedder().EmbedTexts(context.Background(), miniLM, sentences[:1])
	require.NoError(t, err)
	assert.Equal(t, "deepinfra", embs[0].Provider)
	assert.Zero(t, w.srv.Count("/hf-inference/"))

	w.srv.MapEntries("acme/staged", hftest.Entry{Provider: "hf-inference", Status: "staging", ProviderID: "acme/staged"})
	w.cache("acme/staged", "tiny-st")
	before := w.srv.Count("/hf-inference/")
	embs, err = w.embedder().EmbedTexts(context.Background(), "acme/staged", sentences[:1])
	require.NoError(t, err)
	assert.Equal(t, hybridembed.BackendLocal, embs[0].Backend)
	assert.Contains(t, embs[0].Reason, "staging")
	assert.Equal(t, before, w.srv.Count("/hf-inference/"))
}

// TestStaleMappingFallsThrough: a provider that 404s its mapped id (a
// stale mapping) is passed over for the next; since the next answered on
// the same router, the 404 is remembered for (router, provider, model)
// and later runs skip it, on that router only.
func TestStaleMappingFallsThrough(t *testing.T) {
	w := newWorld(t)
	w.srv.ServeProvider("scaleway", qwen, "qwen3-embedding-8b", hftest.Filler(8), true)
	w.srv.MapEntries(qwen,
		hftest.Entry{Provider: "together", Status: "live", ProviderID: "Qwen/Qwen3-Embedding-8B-gone"},
		hftest.Entry{Provider: "scaleway", Status: "live", ProviderID: "qwen3-embedding-8b"})
	embs, err := w.embedder().EmbedTexts(context.Background(), qwen, []string{"a", "b"})
	require.NoError(t, err)
	assert.Equal(t, "scaleway", embs[0].Provider)
	assert.Contains(t, embs[0].Reason, "together answered 404")
	assert.Equal(t, 1, w.srv.Count("/together/"))

	e2 := w.embedder() // a new process: the mark is on disk
	embs, err = e2.EmbedTexts(context.Background(), qwen, []string{"a"})
	require.NoError(t, err)
	assert.Equal(t, "scaleway", embs[0].Provider)
	assert.Equal(t, 1, w.srv.Count("/together/"), "together is not asked again")
	d, err := e2.Resolve(context.Background(), qwen, hybridembed.ModalityText)
	require.NoError(t, err)
	require.Len(t, d.Providers, 2)
	assert.False(t, d.Providers[0].Use)
	assert.NotNil(t, d.Providers[0].NotServedUntil)
	assert.Contains(t, d.Providers[0].Why, "404 while scaleway answered")

	// Another router, where together does serve the id: the mark made on
	// the first router does not apply.
	other := hftest.New(t)
	other.ServeProvider("together", qwen, "Qwen/Qwen3-Embedding-8B-gone", hftest.Filler(8), true)
	embs, err = w.embedder(hybridembed.WithRouterURL(other.URL)).EmbedTexts(context.Background(), qwen, []string{"a"})
	require.NoError(t, err)
	assert.Equal(t, "together", embs[0].Provider)

	// resolve --refresh forgets it.
	require.NoError(t, e2.ForgetRouting(qwen))
	_, err = w.embedder().EmbedTexts(context.Background(), qwen, []string{"a"})
	require.NoError(t, err)
	assert.Equal(t, 2, w.srv.Count("/together/"), "asked again after ForgetRouting")
}

// TestWrongRouterURLDoesNotAffectTheRightOne: every route of a wrong
// router URL 404s; that is diagnosed, falls back to the local copy, and
// leaves nothing behind that would stop the right URL from being used.
func TestWrongRouterURLDoesNotAffectTheRightOne(t *testing.T) {
	w := newWorld(t)
	w.cache(miniLM, "tiny-st")
	w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t))
	for range 2 {
		embs, err := w.embedder(hybridembed.WithRouterURL(w.srv.URL+"/v1/embeddings")).EmbedTexts(context.Background(), miniLM, sentences[:1])
		require.NoError(t, err)
		assert.Equal(t, hybridembed.BackendLocal, embs[0].Backend)
		assert.Contains(t, embs[0].Reason, "wrong router URL?")
	}
	assert.Equal(t, 2, w.srv.Count("/v1/embeddings/hf-inference/"), "the wrong URL is tried each time: nothing was remembered")
	embs, err := w.embedder().EmbedTexts(context.Background(), miniLM, sentences[:1])
	require.NoError(t, err)
	assert.Equal(t, hybridembed.BackendRemote, embs[0].Backend)
	assert.Equal(t, "hf-inference", embs[0].Provider)
}

// TestMappingKeyedByHub: a mapping one Hub gave is not used for another.
func TestMappingKeyedByHub(t *testing.T) {
	w := newWorld(t)
	w.srv.ServeProvider("together", qwen, "q-together", hftest.Filler(8), true)
	other := hftest.New(t)
	other.MapEntries(qwen, hftest.Entry{Provider: "scaleway", Status: "live", ProviderID: "q-scaleway"})
	w.srv.ServeProvider("scaleway", qwen, "q-scaleway", hftest.Filler(8), true) // the router serves both
	w.srv.MapEntries(qwen, hftest.Entry{Provider: "together", Status: "live", ProviderID: "q-together"})

	embs, err := w.embedder().EmbedTexts(context.Background(), qwen, []string{"a"})
	require.NoError(t, err)
	assert.Equal(t, "together", embs[0].Provider)
	embs, err = w.embedder(hybridembed.WithHubURL(other.URL)).EmbedTexts(context.Background(), qwen, []string{"a"})
	require.NoError(t, err)
	assert.Equal(t, "scaleway", embs[0].Provider, "the other Hub's mapping")
	assert.Equal(t, 1, other.Count("/api/models/"))
}

// TestProviderFailures: 5xx exhausted on one provider goes to the next;
// an auth error stops the chain; credits used up go to the local model.
func TestProviderFailures(t *testing.T) {
	setup := func(t *testing.T) *world {
		w := newWorld(t)
		w.cache(miniLM, "tiny-st")
		w.srv.ServeProvider("together", miniLM, "t-mini", hftest.Filler(48), true)
		w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t)) // hf-inference, second
		return w
	}
	t.Run("5xx: next provider", func(t *testing.T) {
		w := setup(t)
		w.srv.InjectProvider("together", miniLM, hftest.Repeat(hftest.Fault{Kind: hftest.BadGateway}, 3)...)
		embs, err := w.embedder().EmbedTexts(context.Background(), miniLM, sentences[:1])
		require.NoError(t, err)
		assert.Equal(t, "hf-inference", embs[0].Provider)
		assert.Contains(t, embs[0].Reason, "together failed")
		assert.Equal(t, 3, w.srv.Count("/together/"), "retried within the policy first")
		// Not a 404: nothing is remembered.
		embs, err = w.embedder().EmbedTexts(context.Background(), miniLM, sentences[:1])
		require.NoError(t, err)
		assert.Equal(t, "together", embs[0].Provider)
	})
	t.Run("401: an auth error, never an answer from elsewhere", func(t *testing.T) {
		w := setup(t)
		w.srv.InjectProvider("together", miniLM, hftest.Fault{Kind: hftest.Unauthorized})
		_, err := w.embedder().EmbedTexts(context.Background(), miniLM, sentences[:1])
		assert.ErrorIs(t, err, hybridembed.ErrAuth)
		assert.Zero(t, w.srv.Count("/hf-inference/"))
	})
	t.Run("402: the local model", func(t *testing.T) {
		w := setup(t)
		w.srv.InjectProvider("together", miniLM, hftest.Fault{Kind: hftest.PaymentRequired})
		embs, err := w.embedder().EmbedTexts(context.Background(), miniLM, sentences[:1])
		require.NoError(t, err)
		assert.Equal(t, hybridembed.BackendLocal, embs[0].Backend)
		assert.Contains(t, embs[0].Reason, "credits")
		assert.Zero(t, w.srv.Count("/hf-inference/"), "the account's credits are every provider's")
	})
	t.Run("not cached: one message", func(t *testing.T) {
		w := newWorld(t)
		w.srv.ServeProvider("together", qwen, "q", hftest.Filler(8), true)
		w.srv.InjectProvider("together", qwen, hftest.Repeat(hftest.Fault{Kind: hftest.ServerError}, 3)...)
		_, err := w.embedder().EmbedTexts(context.Background(), qwen, []string{"a"})
		require.Error(t, err)
		assert.ErrorIs(t, err, hybridembed.ErrUnavailable)
		assert.ErrorIs(t, err, hybridembed.ErrNotCached)
		msg := err.Error()
		assert.Equal(t, 1, strings.Count(msg, "not cached"), msg)
		assert.NotContains(t, msg, "fell back", msg)
		assert.NotContains(t, msg, "local model", msg)
		assert.Contains(t, msg, "together failed")
		assert.True(t, strings.HasSuffix(msg, "fetch it with `hybridembed models pull "+qwen+"`"), msg)
	})
}

// TestNormalizedIsTrue: Normalized describes the vector, whatever the
// provider sent.
func TestNormalizedIsTrue(t *testing.T) {
	w := newWorld(t)
	w.srv.ServeProvider("deepinfra", qwen, "q", hftest.Filler(8), false) // raw vectors
	embs, err := w.embedder(hybridembed.WithNormalize(false)).EmbedTexts(context.Background(), qwen, []string{"a"})
	require.NoError(t, err)
	assert.False(t, embs[0].Normalized)
	embs, err = w.embedder().EmbedTexts(context.Background(), qwen, []string{"a"})
	require.NoError(t, err)
	assert.True(t, embs[0].Normalized)
	assert.InDelta(t, 1, hybridembed.Cosine(embs[0].Vector, embs[0].Vector), 1e-9)
}

// TestPinnedRevision: model@rev goes to a provider only when rev is the
// Hub's current commit, and the vector records it; otherwise nothing is
// sent to the router and the local snapshot at rev answers, saying why.
func TestPinnedRevision(t *testing.T) {
	w := newWorld(t)
	w.cache(miniLM, "tiny-st") // snapshot 0123456789...
	cached := strings.Repeat("0123456789", 4)
	current := strings.Repeat("fe", 20)
	w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t))
	w.srv.SetCommit(miniLM, current)

	embs, err := w.embedder().EmbedTexts(context.Background(), miniLM+"@"+cached, sentences[:1])
	require.NoError(t, err)
	assert.Equal(t, hybridembed.BackendLocal, embs[0].Backend)
	assert.Equal(t, cached, embs[0].Revision)
	assert.Contains(t, embs[0].Reason, "the Hub's current commit is "+current[:12])
	assert.Zero(t, w.srv.Count("/hf-inference/"), "a pinned revision sends nothing to the router")

	for _, rev := range []string{current, "main"} {
		embs, err = w.embedder().EmbedTexts(context.Background(), miniLM+"@"+rev, sentences[:1])
		require.NoError(t, err, rev)
		assert.Equal(t, hybridembed.BackendRemote, embs[0].Backend, rev)
		assert.Equal(t, current, embs[0].Revision, rev)
		assert.Equal(t, "hf-inference", embs[0].Provider)
	}
	n := w.srv.Count("/hf-inference/")
	_, err = w.embedder().EmbedTexts(context.Background(), miniLM+"@v2", sentences[:1])
	assert.ErrorIs(t, err, hybridembed.ErrNotCached, "an unknown tag: not served, and no snapshot for it")
	assert.ErrorContains(t, err, "pinned to v2")
	assert.Equal(t, n, w.srv.Count("/hf-inference/"))

	_, err = w.embedder(hybridembed.WithPolicy(hybridembed.PolicyRemote)).EmbedTexts(context.Background(), miniLM+"@"+cached, sentences[:1])
	assert.ErrorContains(t, err, "policy remote")
	assert.Equal(t, n, w.srv.Count("/hf-inference/"))

	// A push to the repo: a pin to the old commit is judged by a fresh
	// answer, not by the mapping remembered 10 minutes ago.
	data, err := os.ReadFile(hybridembed.StatePath())
	require.NoError(t, err)
	var f map[string]any
	require.NoError(t, json.Unmarshal(data, &f))
	for _, m := range f["mappings"].(map[string]any) {
		m.(map[string]any)["fetched"] = time.Now().Add(-10 * time.Minute).Format(time.RFC3339Nano)
	}
	data, err = json.Marshal(f)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(hybridembed.StatePath(), data, 0o644))
	w.srv.SetCommit(miniLM, strings.Repeat("aa", 20))
	asked := w.srv.Count("/api/models/")
	n = w.srv.Count("/hf-inference/")
	_, err = w.embedder().EmbedTexts(context.Background(), miniLM+"@"+current, sentences[:1])
	assert.ErrorIs(t, err, hybridembed.ErrNotCached, "no longer the current commit, and not cached")
	assert.ErrorContains(t, err, "the Hub's current commit is aaaaaaaaaaaa")
	assert.Equal(t, asked+1, w.srv.Count("/api/models/"), "asked again")
	assert.Equal(t, n, w.srv.Count("/hf-inference/"))
	embs, err = w.embedder().EmbedTexts(context.Background(), miniLM, sentences[:1])
	require.NoError(t, err)
	assert.Equal(t, hybridembed.BackendRemote, embs[0].Backend)
	assert.Empty(t, embs[0].Revision, "an unpinned remote vector claims no commit")
}

// TestHungHub: a Hub that accepts connections and never answers costs one
// wait (WithHubTimeout) and is then remembered: later calls, and later
// Embedders (runs), go local without asking it again.
func TestHungHub(t *testing.T) {
	w := newWorld(t)
	w.cache(miniLM, "tiny-st")
	w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t))
	w.srv.InjectHub("", hftest.Repeat(hftest.Fault{Kind: hftest.Hang}, 20)...)
	opt := hybridembed.WithHubTimeout(300 * time.Millisecond)
	start := time.Now()
	embs, err := w.embedder(opt).EmbedTexts(context.Background(), miniLM, sentences[:1])
	require.NoError(t, err)
	assert.Equal(t, hybridembed.BackendLocal, embs[0].Backend)
	assert.Contains(t, embs[0].Reason, "no answer within 300ms")
	assert.Less(t, time.Since(start), 10*time.Second)
	for range 3 {
		e := w.embedder(opt)
		embs, err = e.EmbedTexts(context.Background(), miniLM, sentences[:1])
		require.NoError(t, err)
		assert.Contains(t, embs[0].Reason, "not asked again until")
		d, err := e.Resolve(context.Background(), miniLM, hybridembed.ModalityText)
		require.NoError(t, err)
		require.NotNil(t, d.Evidence.Hub)
		assert.NotNil(t, d.Evidence.Hub.FailedUntil)
	}
	assert.Equal(t, 1, w.srv.Count("/api/models/"), "one lookup for all of them")
	assert.Zero(t, w.srv.Count("/hf-inference/"))
}

// TestConcurrentLookupsShareOne: callers that ask at once about a model
// share one Hub request, whether it answers or hangs.
func TestConcurrentLookupsShareOne(t *testing.T) {
	for _, fault := range []hftest.Fault{{Kind: hftest.Slow, Delay: 300 * time.Millisecond}, {Kind: hftest.Hang}} {
		w := newWorld(t)
		w.cache(miniLM, "tiny-st")
		w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t))
		w.srv.InjectHub(miniLM, fault, fault)
		e := w.embedder(hybridembed.WithHubTimeout(time.Second))
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.EmbedTexts(context.Background(), miniLM, sentences[:1])
				assert.NoError(t, err)
			}()
		}
		wg.Wait()
		assert.Equal(t, 1, w.srv.Count("/api/models/"), "fault %d", fault.Kind)
	}
}

// TestStateFile: the routing memory lives in StatePath, keyed by Hub
// URL and model; a file of the first version (model-only keys) is ignored.
func TestStateFile(t *testing.T) {
	w := newWorld(t)
	w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t))
	path := hybridembed.StatePath()
	require.NoError(t, os.MkdirAll(strings.TrimSuffix(path, "state.json"), 0o755))
	old := `{"mappings": {"` + miniLM + `": {"model": "` + miniLM + `", "providers": {}, "fetched": "` + time.Now().Format(time.RFC3339) + `"}},
		"not_served": {"` + miniLM + `": {"since": "2020-01-01T00:00:00Z", "until": "2999-01-01T00:00:00Z", "reason": "404"}}}`
	require.NoError(t, os.WriteFile(path, []byte(old), 0o644))
	embs, err := w.embedder().EmbedTexts(context.Background(), miniLM, sentences[:1])
	require.NoError(t, err)
	assert.Equal(t, hybridembed.BackendRemote, embs[0].Backend, "the version-1 entries do not count")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var f struct {
		Version  int                        `json:"version"`
		Mappings map[string]json.RawMessage `json:"mappings"`
	}
	require.NoError(t, json.Unmarshal(data, &f))
	assert.Equal(t, 2, f.Version)
	assert.Contains(t, f.Mappings, w.srv.URL+" "+miniLM)
}

// TestPolicyRemote: forced remote follows the Hub's chain, and with no
// live provider still tries hf-inference under the Hub id (never local).
func TestPolicyRemote(t *testing.T) {
	w := newWorld(t)
	w.srv.ServeProvider("together", qwen, "q", hftest.Filler(8), true)
	remoteOnly := hybridembed.WithPolicy(hybridembed.PolicyRemote)
	embs, err := w.embedder(remoteOnly).EmbedTexts(context.Background(), qwen, []string{"a"})
	require.NoError(t, err)
	assert.Equal(t, "together", embs[0].Provider)

	w.srv.Serve(miniLM, hftest.Filler(8), true)
	w.srv.MapEntries(miniLM, hftest.Entry{Provider: "hf-inference", Status: "staging", ProviderID: miniLM})
	embs, err = w.embedder(remoteOnly).EmbedTexts(context.Background(), miniLM, []string{"a"})
	require.NoError(t, err)
	assert.Equal(t, "hf-inference", embs[0].Provider)
	assert.Contains(t, embs[0].Reason, "policy is remote")

	_, err = w.embedder(remoteOnly, hybridembed.WithProviders("scaleway")).EmbedTexts(context.Background(), miniLM, []string{"a"})
	assert.ErrorContains(t, err, "policy remote")
	w.srv.Inject(miniLM, hftest.Fault{Kind: hftest.PlainNotFound})
	_, err = w.embedder(remoteOnly).EmbedTexts(context.Background(), miniLM, []string{"a"})
	assert.ErrorContains(t, err, "policy remote", "no fallback")
}

// TestStateMergedAcrossProcesses: two Embedders sharing the state file (two
// processes) each add entries; neither's save drops the other's.
func TestStateMergedAcrossProcesses(t *testing.T) {
	w := newWorld(t)
	w.srv.ServeProvider("together", qwen, "q", hftest.Filler(8), true)
	w.srv.ServeProvider("scaleway", e5, "e", hftest.Filler(8), true)
	a, b := w.embedder(), w.embedder() // both loaded the empty file
	_, err := a.EmbedTexts(context.Background(), qwen, []string{"x"})
	require.NoError(t, err)
	_, err = b.EmbedTexts(context.Background(), e5, []string{"x"})
	require.NoError(t, err)
	for range 2 {
		_, err = w.embedder().EmbedTexts(context.Background(), qwen, []string{"x"})
		require.NoError(t, err)
		_, err = w.embedder().EmbedTexts(context.Background(), e5, []string{"x"})
		require.NoError(t, err)
	}
	assert.Equal(t, 2, w.srv.Count("/api/models/"), "each mapping asked for once: b's save kept a's")
}

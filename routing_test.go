package hybridembed_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
	"github.com/hybridembed/hybridembed/models/modelstest"
	"github.com/hybridembed/hybridembed/remote/hftest"
)

const miniLM = "sentence-transformers/all-MiniLM-L6-v2"

var fastRetries = hybridembed.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxWait: 2 * time.Second}

// world is one test's machine: an emulated router and Hub, an HF cache and
// hybridembed's own cache, both empty unless a test fills them.
type world struct {
	t   *testing.T
	srv *hftest.Server
	hub string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	orttest.Init(t)
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HUB_OFFLINE", "")
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HYBRIDEMBED_CACHE", t.TempDir())
	return &world{t: t, srv: hftest.New(t), hub: filepath.Join(home, "hub")}
}

// cache puts a fixture model into the HF cache under id.
func (w *world) cache(id, fixture string) {
	modelstest.Cache(w.t, w.hub, id, fixtures.Fixture("models", fixture))
}

func (w *world) embedder(opts ...hybridembed.Option) *hybridembed.Embedder {
	w.t.Helper()
	base := []hybridembed.Option{
		hybridembed.WithRouterURL(w.srv.URL), hybridembed.WithHubURL(w.srv.URL),
		hybridembed.WithToken("hf_test_token_abc"), hybridembed.WithRetryPolicy(fastRetries),
		hybridembed.WithDevice("cpu"),
	}
	e, err := hybridembed.New(append(base, opts...)...)
	require.NoError(w.t, err)
	w.t.Cleanup(func() { e.Close() })
	return e
}

var sentences = []string{"This is an example sentence", "Each sentence is converted", "Café résumé: naïve façade!"}

// TestRemoteLocalAndReferenceAgree: a served model goes to the router; the
// router's vectors (served from the PyTorch reference), the local model's
// and the reference agree, element by element, so a change to pooling or to
// normalisation on either path fails here.
func TestRemoteLocalAndReferenceAgree(t *testing.T) {
	w := newWorld(t)
	w.cache(miniLM, "tiny-st")
	ref := fixtures.TinySTReference(t)
	w.srv.ServeReference(t, miniLM, ref)

	remoteEmb, err := w.embedder().EmbedTexts(context.Background(), miniLM, sentences)
	require.NoError(t, err)
	localEmb, err := w.embedder(hybridembed.WithPolicy(hybridembed.PolicyLocal)).EmbedTexts(context.Background(), miniLM, sentences)
	require.NoError(t, err)
	cls, err := hftest.LoadReference(fixtures.Fixture("golden", "tiny-st.json"), "cls")
	require.NoError(t, err)
	for i, text := range sentences {
		want := ref.Pipeline[text]
		require.NotEmpty(t, want, text)
		assert.Equal(t, hybridembed.BackendRemote, remoteEmb[i].Backend)
		assert.Contains(t, remoteEmb[i].Reason, "hf-inference (live)")
		assert.Equal(t, hybridembed.BackendLocal, localEmb[i].Backend)
		assert.True(t, remoteEmb[i].Normalized)
		for name, got := range map[string][]float32{"remote": remoteEmb[i].Vector, "local": localEmb[i].Vector} {
			c := hybridembed.Cosine(got, want)
			t.Logf("%q: cosine(%s, reference) = %.8f, max |diff| = %.2g", text, name, c, maxAbsDiff(got, want))
			assert.GreaterOrEqual(t, c, 0.99999, name)
			assert.Less(t, maxAbsDiff(got, want), 1e-5, "%s: same vector, same scale", name)
		}
		// The check can fail: CLS pooling of the same model is far off.
		assert.Less(t, hybridembed.Cosine(localEmb[i].Vector, cls.Raw[text]), 0.99999, "CLS-pooled reference")
		assert.Greater(t, maxAbsDiff(localEmb[i].Vector, ref.Raw[text]), 1e-3, "the un-normalised reference")
	}
	assert.Equal(t, 1, w.srv.Count("/hf-inference/"))
}

func maxAbsDiff(a, b []float32) float64 {
	d := math.Inf(1)
	if len(a) == len(b) {
		d = 0
		for i := range a {
			d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		}
	}
	return d
}

// TestLive404IsNotRemembered: a 404 from the router while the Hub says
// the model is live (a wrong router URL, or a stale mapping with no other
// provider to prove the URL right) falls back to the local model, says so,
// and is not remembered: the next run asks the router again and is served.
func TestLive404IsNotRemembered(t *testing.T) {
	w := newWorld(t)
	w.cache(miniLM, "tiny-st")
	w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t))   // the Hub says live...
	w.srv.Inject(miniLM, hftest.Fault{Kind: hftest.PlainNotFound}) // ...the router 404s once

	embs, err := w.embedder().EmbedTexts(context.Background(), miniLM, sentences[:1])
	require.NoError(t, err)
	assert.Equal(t, hybridembed.BackendLocal, embs[0].Backend)
	assert.Contains(t, embs[0].Reason, "404")
	assert.Contains(t, embs[0].Reason, "wrong router URL? (not remembered")
	assert.Equal(t, 1, w.srv.Count("/hf-inference/"))

	e2 := w.embedder() // a new process
	embs, err = e2.EmbedTexts(context.Background(), miniLM, sentences[:1])
	require.NoError(t, err)
	assert.Equal(t, hybridembed.BackendRemote, embs[0].Backend, "the 404 was not remembered")
	assert.Equal(t, 2, w.srv.Count("/hf-inference/"))

	d, err := e2.Resolve(context.Background(), miniLM, hybridembed.ModalityText)
	require.NoError(t, err)
	require.Len(t, d.Providers, 1)
	assert.Nil(t, d.Providers[0].NotServedUntil)
}

// TestRouterFailures: what each failure does with and without a local copy.
func TestRouterFailures(t *testing.T) {
	tests := []struct {
		name       string
		faults     []hftest.Fault
		cached     bool
		wantBack   hybridembed.Backend
		wantErr    error
		wantReason string
	}{
		{"loading then served", []hftest.Fault{{Kind: hftest.Loading, EstimatedTime: 10 * time.Millisecond}}, true, hybridembed.BackendRemote, nil, "live"},
		{"429 then served", []hftest.Fault{{Kind: hftest.RateLimited}}, true, hybridembed.BackendRemote, nil, "live"},
		{"5xx exhausted, cached", hftest.Repeat(hftest.Fault{Kind: hftest.ServerError}, 3), true, hybridembed.BackendLocal, nil, "fell back to the local model"},
		{"reset exhausted, cached", hftest.Repeat(hftest.Fault{Kind: hftest.ResetMidBody}, 3), true, hybridembed.BackendLocal, nil, "fell back"},
		{"garbage exhausted, cached", hftest.Repeat(hftest.Fault{Kind: hftest.MalformedJSON}, 3), true, hybridembed.BackendLocal, nil, "malformed"},
		{"5xx exhausted, not cached", hftest.Repeat(hftest.Fault{Kind: hftest.BadGateway}, 3), false, "", hybridembed.ErrUnavailable, "models pull " + miniLM},
		{"5xx exhausted, not cached: also ErrNotCached", hftest.Repeat(hftest.Fault{Kind: hftest.BadGateway}, 3), false, "", hybridembed.ErrNotCached, "502 Bad Gateway"},
		{"401", []hftest.Fault{{Kind: hftest.Unauthorized}}, true, "", hybridembed.ErrAuth, "HF_TOKEN"},
		{"403", []hftest.Fault{{Kind: hftest.Forbidden}}, true, "", hybridembed.ErrAuth, "restricted"},
		{"404, not cached", []hftest.Fault{{Kind: hftest.PlainNotFound}}, false, "", hybridembed.ErrNotCached, "models pull " + miniLM},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			if tc.cached {
				w.cache(miniLM, "tiny-st")
			}
			w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t))
			w.srv.Inject(miniLM, tc.faults...)
			embs, err := w.embedder().EmbedTexts(context.Background(), miniLM, sentences[:2])
			if tc.wantErr != nil {
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.wantErr)
				assert.Contains(t, err.Error(), tc.wantReason)
				assert.NotContains(t, err.Error(), "hf_test_token_abc")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantBack, embs[0].Backend)
			assert.Contains(t, embs[0].Reason, tc.wantReason)
			assert.Len(t, embs[1].Vector, 48)
		})
	}
}

func TestUnreachableRouterFallsBack(t *testing.T) {
	w := newWorld(t)
	w.cache(miniLM, "tiny-st")
	w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t))
	e := w.embedder(hybridembed.WithRouterURL("http://127.0.0.1:1"))
	embs, err := e.EmbedTexts(context.Background(), miniLM, sentences[:1])
	require.NoError(t, err)
	assert.Equal(t, hybridembed.BackendLocal, embs[0].Backend)
	assert.Contains(t, embs[0].Reason, "fell back")

	// A Hub that cannot be reached either (and no mapping cached from an
	// earlier run): local.
	t.Setenv("HYBRIDEMBED_CACHE", t.TempDir())
	e = w.embedder(hybridembed.WithRouterURL("http://127.0.0.1:1"), hybridembed.WithHubURL("http://127.0.0.1:1"))
	embs, err = e.EmbedTexts(context.Background(), miniLM, sentences[:1])
	require.NoError(t, err)
	assert.Equal(t, hybridembed.BackendLocal, embs[0].Backend)
	assert.Contains(t, embs[0].Reason, "could not be asked")
}

// TestDeadlineFallsBack: a model that says it needs a minute to load does
// not hold a caller with a short deadline.
func TestDeadlineFallsBack(t *testing.T) {
	w := newWorld(t)
	w.cache(miniLM, "tiny-st")
	w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t))
	// The deadline leaves the local model time to load on a loaded CI
	// machine, and is still far shorter than the wait the router asks for.
	w.srv.Inject(miniLM, hftest.Fault{Kind: hftest.Loading, EstimatedTime: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	patient := fastRetries
	patient.MaxWait = time.Hour // only the deadline stops the wait
	embs, err := w.embedder(hybridembed.WithRetryPolicy(patient)).EmbedTexts(ctx, miniLM, sentences[:1])
	require.NoError(t, err, "had it waited for the model, the deadline would have passed")
	assert.Equal(t, hybridembed.BackendLocal, embs[0].Backend)
	assert.Contains(t, embs[0].Reason, "would pass the deadline")
}

func TestOfflineMakesNoRequests(t *testing.T) {
	w := newWorld(t)
	w.cache(miniLM, "tiny-st")
	w.cache("openai/clip-vit-base-patch32", "tiny-clip")
	w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t))
	for name, e := range map[string]*hybridembed.Embedder{
		"WithOffline": w.embedder(hybridembed.WithOffline(true)),
		"env": func() *hybridembed.Embedder {
			t.Setenv("HF_HUB_OFFLINE", "1")
			return w.embedder()
		}(),
	} {
		embs, err := e.EmbedTexts(context.Background(), miniLM, sentences)
		require.NoError(t, err, name)
		assert.Equal(t, hybridembed.BackendLocal, embs[0].Backend)
		assert.Contains(t, embs[0].Reason, "offline")
		_, err = e.EmbedImages(context.Background(), "openai/clip-vit-base-patch32", []hybridembed.Image{hybridembed.ImageFile(fixtures.Fixture("images", "red_circle.png"))})
		require.NoError(t, err)
		_, err = e.EmbedTexts(context.Background(), "acme/not-cached", []string{"x"})
		assert.ErrorIs(t, err, hybridembed.ErrNotCached)
	}
	assert.Zero(t, w.srv.Count(""), "offline touched the network")
}

// TestCLIPIsLocal: CLIP text goes local (same space as its images), by id,
// without asking the router.
func TestCLIPIsLocal(t *testing.T) {
	w := newWorld(t)
	w.cache("openai/clip-vit-base-patch32", "tiny-clip")
	w.srv.Map("openai/clip-vit-base-patch32", map[string]any{})
	e := w.embedder()
	txt, err := e.EmbedTexts(context.Background(), "openai/clip-vit-base-patch32", []string{"a red circle"})
	require.NoError(t, err)
	img, err := e.EmbedImages(context.Background(), "openai/clip-vit-base-patch32", []hybridembed.Image{hybridembed.ImageFile(fixtures.Fixture("images", "red_circle.png"))})
	require.NoError(t, err)
	assert.Equal(t, hybridembed.BackendLocal, txt[0].Backend)
	assert.Contains(t, txt[0].Reason, "image-text model (clip)")
	assert.Equal(t, hybridembed.BackendLocal, img[0].Backend)
	assert.Equal(t, txt[0].Dim, img[0].Dim)
	assert.NotEmpty(t, img[0].Revision)
	assert.Zero(t, w.srv.Count("/hf-inference/"))
}

// TestMappingIsCached: repeated runs ask the Hub once.
func TestMappingIsCached(t *testing.T) {
	w := newWorld(t)
	w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t))
	for i := 0; i < 3; i++ {
		_, err := w.embedder().EmbedTexts(context.Background(), miniLM, sentences[:1])
		require.NoError(t, err)
	}
	assert.Equal(t, 1, w.srv.Count("/api/models/"))
	assert.Equal(t, 3, w.srv.Count("/hf-inference/"))
}

func TestNoTokenMeansLocal(t *testing.T) {
	w := newWorld(t)
	w.cache(miniLM, "tiny-st")
	w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t))
	embs, err := w.embedder(hybridembed.WithToken("")).EmbedTexts(context.Background(), miniLM, sentences[:1])
	require.NoError(t, err)
	assert.Equal(t, hybridembed.BackendLocal, embs[0].Backend)
	assert.Contains(t, embs[0].Reason, "no Hugging Face token")
	assert.Zero(t, w.srv.Count(""))
}

// TestConcurrentRemote: 8 goroutines through one Embedder (under -race in
// make test), mixing remote and local answers.
func TestConcurrentRemote(t *testing.T) {
	w := newWorld(t)
	w.cache(miniLM, "tiny-st")
	w.srv.ServeReference(t, miniLM, fixtures.TinySTReference(t))
	e := w.embedder()
	want, err := w.embedder(hybridembed.WithPolicy(hybridembed.PolicyLocal)).EmbedTexts(context.Background(), miniLM, sentences)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				if g%2 == 0 && i == 1 {
					w.srv.Inject(miniLM, hftest.Fault{Kind: hftest.ServerError})
				}
				got, err := e.EmbedTexts(context.Background(), miniLM, sentences)
				if err != nil {
					errs <- err
					return
				}
				for k := range got {
					if hybridembed.Cosine(got[k].Vector, want[k].Vector) < 0.9999 {
						errs <- errors.New("vectors disagree")
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

package hybridembed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/models"
	"github.com/hybridembed/hybridembed/models/layout"
	"github.com/hybridembed/hybridembed/remote"
)

// Backend says what computed a vector.
type Backend string

const (
	// BackendLocal vectors come from ONNX Runtime on this machine.
	BackendLocal Backend = "local"
	// BackendRemote vectors come from an inference provider through the
	// Hugging Face router (see Embedding.Provider).
	BackendRemote Backend = "remote"
)

// Embedding is one input's vector and where it came from. Vectors of one
// model (same ID, revision and variant) from either backend live in the
// same space and can be mixed; vectors of different variants or revisions
// should not be.
type Embedding struct {
	Vector []float32
	Model  string // the model as asked for
	// Revision is the commit that made the vector, when known: the local
	// files', or for a pinned model@commit served remotely, the commit the
	// Hub said the providers serve.
	Revision string
	// Variant is the ONNX file variant that computed a local vector ("" for
	// fp32, "quantized", "fp16" ...); remote vectors have none.
	Variant string
	// Digest identifies the local files and the decode mode that made a
	// local vector (see [ModelInfo.Digest]).
	Digest  string
	Backend Backend // local or remote
	// Provider is the inference provider that computed a remote vector
	// ("hf-inference", "together", ...); "" for local ones.
	Provider   string
	Device     string // cpu or cuda, for local vectors
	Dim        int
	Normalized bool   // L2-normalised (the default; see WithNormalize)
	Reason     string // why this backend was used
	// Tokens is how many tokens the model's tokenizer made of a text
	// embedded locally (special tokens included, after truncation), as
	// [Model.CountTokens] counts them; 0 for images and router vectors.
	Tokens int
}

// Embedder turns text and images into vectors. Create one with [New] and
// reuse it: it keeps models loaded, and concurrent calls share its batches
// (see [Model]). It is safe for concurrent use by multiple goroutines. No
// lock is held while a caller's callback runs, so callbacks may call the
// Embedder again. Close cancels calls in flight; Shutdown lets them finish.
type Embedder struct {
	cfg      config
	eng      *local.Engine
	cache    models.Cache
	client   *remote.Client
	resolver *resolver

	ctx    context.Context // cancelled (cause ErrClosed) by Close
	cancel context.CancelCauseFunc

	mu     sync.Mutex // guards closed and the calls counter's Add
	closed bool
	calls  sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	dirs sync.Map // model directory -> dirInfo, read once
}

// dirInfo is what routing needs from a local model's config files.
type dirInfo struct {
	family  local.Family
	pooling remote.Pooling
}

// modelInfo reads a model directory's family and pooling once: routing
// runs on every call, and snapshot directories do not change.
func (e *Embedder) modelInfo(dir string) dirInfo {
	if v, ok := e.dirs.Load(dir); ok {
		return v.(dirInfo)
	}
	fam, _ := local.ReadFamily(dir)
	info := dirInfo{family: fam, pooling: remote.Pooling(local.ReadPooling(dir))}
	e.dirs.Store(dir, info)
	return info
}

// New returns an Embedder. Nothing is loaded until the first call needs it.
func New(opts ...Option) (*Embedder, error) {
	c := config{normalize: true, maxPixels: imageprep.DefaultMaxPixels, device: ort.DeviceAuto, policy: PolicyAuto,
		mappingTTL: 6 * time.Hour, notServedTTL: 6 * time.Hour}
	for _, o := range opts {
		if o == nil {
			return nil, errNilOption
		}
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	env := func(k string) string {
		if c.ignoreEnv {
			return ""
		}
		return os.Getenv(k)
	}
	if !c.offlineIsSet && !c.ignoreEnv {
		c.offline = models.OfflineFromEnv()
	}
	if !c.tokenSet && !c.ignoreEnv {
		c.token = remote.TokenFromEnv(layout.TokenPath())
	}
	if c.hubTimeout == 0 { // not set by WithHubTimeout
		c.hubTimeout = 10 * time.Second
		if secs, err := strconv.ParseFloat(env("HF_HUB_ETAG_TIMEOUT"), 64); err == nil && secs > 0 {
			c.hubTimeout = time.Duration(secs * float64(time.Second))
		}
	}
	if c.hubCache == "" && c.ignoreEnv {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("hybridembed: no home directory for the hub cache (use WithHubCache): %w", err)
		}
		c.hubCache = filepath.Join(home, ".cache", "huggingface", "hub")
	}
	logger := c.logger
	logf := func(format string, args ...any) { logger.Info(fmt.Sprintf(format, args...)) }
	warnf := func(format string, args ...any) { logger.Warn(fmt.Sprintf(format, args...)) }
	eng := local.New(local.Options{
		Threads: c.threads, Device: c.device, Library: c.library,
		BatchSize: c.batch, TextBatchSize: c.textBatch, MaxWait: c.maxWait, Workers: c.workers, Runs: c.runs,
		KeepAlive: c.keepAlive, Limits: imageprep.Limits{MaxPixels: c.maxPixels}, FastDecode: c.fastDecode, Logf: logf, Warnf: warnf,
		IgnoreEnv: c.ignoreEnv, QuietTexts: c.quietTexts,
	})
	client := &remote.Client{
		RouterURL: firstNonEmpty(c.routerURL, env("HYBRIDEMBED_ROUTER_URL"), remote.DefaultRouterURL),
		HubURL:    firstNonEmpty(c.hubURL, env("HF_ENDPOINT"), remote.DefaultHubURL),
		Token:     c.token, HTTPClient: c.httpClient, Retry: c.retry, WaitForModel: c.waitForModel,
		MaxInputs: c.maxInputs, UserAgent: "hybridembed/" + Version, Logf: logf,
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	e := &Embedder{cfg: c, eng: eng, cache: models.Cache{Dir: c.hubCache}, client: client, ctx: ctx, cancel: cancel}
	statePath := StatePath()
	if c.ignoreEnv {
		statePath = filepath.Join(layout.DefaultHomeDir(), "router", "state.json")
	}
	e.resolver = &resolver{e: e, state: loadState(statePath),
		mappingTTL: c.mappingTTL, notServedFor: c.notServedTTL, hubTimeout: c.hubTimeout}
	return e, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// StatePath is the routing state file: what routing remembers
// between runs ($HYBRIDEMBED_CACHE/router/state.json, by default
// ~/.cache/hybridembed/router/state.json). Deleting it is always safe.
func StatePath() string { return filepath.Join(layout.HomeDir(), "router", "state.json") }

// hubClient is the client for the routing lookups: routing must not stall
// on an unreachable Hub, so it retries once, briefly.
func (e *Embedder) hubClient() *remote.Client {
	c := *e.client
	c.Retry = remote.RetryPolicy{MaxAttempts: 2, BaseDelay: e.client.Retry.BaseDelay, MaxDelay: time.Second, MaxWait: 5 * time.Second}
	return &c
}

// Resolve reports where model's inputs of modality would go, and why: the
// decision every embedding call makes, with its evidence. Routing follows
// these rules (overridable by [Policy]):
//
//   - images always run locally; CLIP-family models run locally for text
//     too, so that text and image vectors share one space;
//   - offline (WithOffline, HF_HUB_OFFLINE=1), or no token, means local;
//   - text goes to the router when the Hub maps the model to a live
//     provider that embeds (hf-inference, together, scaleway, deepinfra),
//     trying them in the Hub's order (or WithProviders'), each with its
//     provider id; a pinned model@rev only when rev is the Hub's current
//     commit;
//   - a provider's 404 while another provider of the same router answers
//     is a stale mapping, remembered for that (router, provider, model); a
//     404 from every provider the Hub says is live is diagnosed as a wrong
//     router URL and not remembered;
//   - loading, rate limits and server errors are retried within the
//     caller's deadline, then the next provider, then the local model if
//     cached;
//   - 401/403 is an auth error, never silently answered from elsewhere.
//
// Hub lookups are shared by concurrent callers and remembered (answers for
// WithRoutingCache's time, failures for a minute) in the file [StatePath].
func (e *Embedder) Resolve(ctx context.Context, model string, modality Modality) (d Decision, err error) {
	ctx, end, err := e.begin(ctx)
	if err != nil {
		return Decision{}, err
	}
	defer end(&err)
	m, err := e.resolve(model)
	if err != nil {
		return Decision{}, err
	}
	return e.resolver.route(ctx, m, modality)
}

// begin admits a call: it fails with ErrClosed once Close or Shutdown has
// started, and otherwise returns a context that Close cancels. end must be
// called with the call's error, which it turns into ErrClosed when Close
// cut the call short.
func (e *Embedder) begin(ctx context.Context) (context.Context, func(*error), error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, nil, ErrClosed
	}
	e.calls.Add(1)
	e.mu.Unlock()
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(e.ctx, func() { cancel(ErrClosed) })
	return ctx, func(err *error) {
		if *err != nil && errors.Is(context.Cause(ctx), ErrClosed) && !errors.Is(*err, ErrClosed) {
			*err = fmt.Errorf("%w (%w)", ErrClosed, *err)
		}
		stop()
		cancel(nil)
		e.calls.Done()
	}, nil
}

// Close cancels every call in flight, waits for them to return (with
// ErrClosed), and releases every loaded model. Later calls get ErrClosed.
// It is safe to call more than once, but not from a callback of a call on
// the same Embedder (it would wait for that call).
func (e *Embedder) Close() error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel(ErrClosed)
	e.calls.Wait()
	return e.release()
}

// Shutdown stops admitting calls and waits for those in flight to finish,
// then releases every model, like [net/http.Server.Shutdown]. If ctx ends
// first, the calls left are cancelled as by Close and Shutdown returns
// ctx's error once they have returned.
func (e *Embedder) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	done := make(chan struct{})
	go func() { e.calls.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		e.cancel(ErrClosed)
		<-done
	}
	return errors.Join(err, e.release())
}

func (e *Embedder) release() error {
	e.closeOnce.Do(func() {
		e.cancel(ErrClosed)
		e.closeErr = e.eng.Close()
	})
	return e.closeErr
}

// Unload frees the local model behind name (all its variants' sessions)
// once the calls using it end; the next call loads it again. It reports
// whether anything was loaded.
func (e *Embedder) Unload(name string) (bool, error) {
	m, err := e.resolve(name)
	if err != nil {
		return false, err
	}
	if m.loc.dir == "" {
		return false, nil
	}
	return e.eng.Unload(m.loc.dir, m.loc.variant), nil
}

// Stats reports, for each loaded local model, how its towers batched.
func (e *Embedder) Stats() []ModelStats {
	var out []ModelStats
	for _, m := range e.eng.Loaded() {
		for _, t := range m.Stats() {
			s := ModelStats{Dir: m.Dir(), Variant: m.Variant(), Graph: t.Tower, Batches: t.Batches, Inputs: t.Items, Queued: t.Queued}
			if t.Batches > 0 {
				s.MeanBatch = float64(t.Items) / float64(t.Batches)
			}
			out = append(out, s)
		}
	}
	return out
}

// ModelStats is one loaded tower's batching since it was loaded.
type ModelStats struct {
	Dir, Variant, Graph string
	Batches             int64   // model runs
	Inputs              int64   // inputs in them
	MeanBatch           float64 // Inputs / Batches
	Queued              int     // inputs waiting now
}

package hybridembed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/models"
	"github.com/hybridembed/hybridembed/remote"
)

// Backend says what computed a vector.
type Backend string

const (
	// Local vectors come from ONNX Runtime on this machine.
	Local Backend = "local"
	// Remote vectors come from the Hugging Face router's hf-inference
	// feature-extraction pipeline.
	Remote Backend = "remote"
)

// Embedding is one input's vector and where it came from. Vectors of one
// model from either backend live in the same space and can be mixed.
type Embedding struct {
	Vector     []float32
	Model      string  // the model as asked for
	Revision   string  // the commit the local files came from, when known
	Backend    Backend // local or remote
	Device     string  // cpu or cuda, for local vectors
	Dim        int
	Normalized bool   // L2-normalised (the default; see WithNormalize)
	Reason     string // why this backend was used
}

type config struct {
	threads      int
	device       ort.Device
	library      string
	variant      string
	batch        int
	textBatch    int
	workers      int
	normalize    bool
	maxPixels    int64
	hubCache     string
	logger       *slog.Logger
	offline      bool
	offlineIsSet bool

	policy       Policy
	routerURL    string
	hubURL       string
	token        string
	tokenSet     bool
	httpClient   *http.Client
	retry        remote.RetryPolicy
	mappingTTL   time.Duration
	notServedTTL time.Duration
	waitForModel bool
}

// Option configures an [Embedder].
type Option func(*config) error

// WithThreads sets ONNX Runtime's threads per session (default: all cores).
func WithThreads(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("threads must be >= 0, got %d", n)
		}
		c.threads = n
		return nil
	}
}

// WithDevice selects "cpu", "cuda" or "auto" (the default: CUDA when it
// works, else the CPU, with the reason logged).
func WithDevice(device string) Option {
	return func(c *config) error {
		d, err := ort.ParseDevice(device)
		c.device = d
		return err
	}
}

// WithRuntimeLibrary points at libonnxruntime explicitly (default: search
// $ONNXRUNTIME_LIB, hybridembed's cache, the system loader path).
func WithRuntimeLibrary(path string) Option {
	return func(c *config) error { c.library = path; return nil }
}

// WithVariant picks transformers.js ONNX variants: "quantized", "fp16", ...
// (default: the fp32 files).
func WithVariant(v string) Option {
	return func(c *config) error { c.variant = v; return nil }
}

// WithBatchSize sets how many images (and texts) run through the model at
// once (defaults 16 and 32).
func WithBatchSize(images, texts int) Option {
	return func(c *config) error { c.batch, c.textBatch = images, texts; return nil }
}

// WithWorkers sets how many goroutines decode and preprocess images while
// the model runs (default: one per core).
func WithWorkers(n int) Option {
	return func(c *config) error { c.workers = n; return nil }
}

// WithNormalize turns L2 normalisation of vectors on or off (default on).
func WithNormalize(on bool) Option {
	return func(c *config) error { c.normalize = on; return nil }
}

// WithMaxPixels refuses images with more pixels than n before decoding them
// (default 178,956,970, PIL's decompression-bomb limit).
func WithMaxPixels(n int64) Option {
	return func(c *config) error { c.maxPixels = n; return nil }
}

// WithHubCache reads models from this Hugging Face hub cache directory
// (default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub).
func WithHubCache(dir string) Option {
	return func(c *config) error { c.hubCache = dir; return nil }
}

// WithLogger receives notes such as CUDA fallbacks and routing decisions
// (default: discarded).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { c.logger = l; return nil }
}

// WithOffline forbids network use; only local models are used. Without
// this option, $HF_HUB_OFFLINE=1 has the same effect.
func WithOffline(on bool) Option {
	return func(c *config) error { c.offline, c.offlineIsSet = on, true; return nil }
}

// WithPolicy overrides routing: "auto" (the default), "remote" or "local".
func WithPolicy(p Policy) Option {
	return func(c *config) error {
		var err error
		c.policy, err = ParsePolicy(string(p))
		return err
	}
}

// WithRouterURL sets the router (default $HYBRIDEMBED_ROUTER_URL, else
// https://router.huggingface.co).
func WithRouterURL(u string) Option {
	return func(c *config) error { c.routerURL = u; return nil }
}

// WithHubURL sets the Hub (default $HF_ENDPOINT, else https://huggingface.co).
func WithHubURL(u string) Option {
	return func(c *config) error { c.hubURL = u; return nil }
}

// WithToken sets the Hugging Face access token (default $HF_TOKEN, else
// the token file in $HF_HOME). An empty token means none.
func WithToken(token string) Option {
	return func(c *config) error { c.token, c.tokenSet = token, true; return nil }
}

// WithHTTPClient sets the HTTP client for the router and the Hub.
func WithHTTPClient(h *http.Client) Option {
	return func(c *config) error { c.httpClient = h; return nil }
}

// WithRetryPolicy bounds the router's retries (see [remote.RetryPolicy]).
func WithRetryPolicy(p remote.RetryPolicy) Option {
	return func(c *config) error { c.retry = p; return nil }
}

// WithRoutingCache sets how long Hub provider mappings (default 6h) and
// router 404s (default 6h) are remembered on disk.
func WithRoutingCache(mappings, notServed time.Duration) Option {
	return func(c *config) error { c.mappingTTL, c.notServedTTL = mappings, notServed; return nil }
}

// WithWaitForModel asks the router to hold requests while a cold model
// loads (X-Wait-For-Model) instead of answering 503.
func WithWaitForModel(on bool) Option {
	return func(c *config) error { c.waitForModel = on; return nil }
}

// Embedder turns text and images into vectors. Create one with [New] and
// reuse it: it keeps models loaded. It is safe for concurrent use by
// multiple goroutines. Close releases its models.
type Embedder struct {
	cfg      config
	eng      *local.Engine
	cache    models.Cache
	client   *remote.Client
	resolver *Resolver

	mu     sync.RWMutex // held shared by calls, exclusively by Close
	closed bool

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
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if !c.offlineIsSet {
		c.offline = models.OfflineFromEnv()
	}
	logger := c.logger
	logf := func(format string, args ...any) { logger.Info(fmt.Sprintf(format, args...)) }
	eng := local.New(local.Options{
		Threads: c.threads, Device: c.device, Library: c.library,
		BatchSize: c.batch, TextBatchSize: c.textBatch, Workers: c.workers,
		Limits: imageprep.Limits{MaxPixels: c.maxPixels}, Logf: logf,
	})
	if !c.tokenSet {
		c.token = remote.TokenFromEnv(models.TokenPath())
	}
	client := &remote.Client{
		RouterURL: firstNonEmpty(c.routerURL, os.Getenv("HYBRIDEMBED_ROUTER_URL"), remote.DefaultRouterURL),
		HubURL:    firstNonEmpty(c.hubURL, os.Getenv("HF_ENDPOINT"), remote.DefaultHubURL),
		Token:     c.token, HTTPClient: c.httpClient, Retry: c.retry, WaitForModel: c.waitForModel,
		UserAgent: "hybridembed/" + Version, Logf: logf,
	}
	e := &Embedder{cfg: c, eng: eng, cache: models.Cache{Dir: c.hubCache}, client: client}
	e.resolver = &Resolver{e: e, state: loadState(filepath.Join(models.HomeDir(), "router", "state.json")),
		mappingTTL: c.mappingTTL, notServedFor: c.notServedTTL}
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

// hubClient is the client for the routing lookups: routing must not stall
// on an unreachable Hub, so it retries once, briefly.
func (e *Embedder) hubClient() *remote.Client {
	c := *e.client
	c.Retry = remote.RetryPolicy{MaxAttempts: 2, BaseDelay: e.client.Retry.BaseDelay, MaxDelay: time.Second, MaxWait: 5 * time.Second}
	return &c
}

// Resolve reports where model's inputs of modality would go, and why.
func (e *Embedder) Resolve(ctx context.Context, model string, modality Modality) (Decision, error) {
	release, err := e.acquire()
	if err != nil {
		return Decision{}, err
	}
	defer release()
	return e.resolver.Route(ctx, model, modality)
}

// Close releases every loaded model. It is safe to call more than once.
func (e *Embedder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	return e.eng.Close()
}

func (e *Embedder) acquire() (release func(), err error) {
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return nil, ErrClosed
	}
	return e.mu.RUnlock, nil
}

// location is where a model's files are.
type location struct {
	dir      string
	revision string
	repo     string
	variant  string // the file suffix to load
}

// locate finds model: a directory (any layout the local engine reads), or
// a Hugging Face id ("org/name", optionally "@revision") in the hub cache,
// through the registry for known models.
func (e *Embedder) locate(model string) (location, error) {
	if st, err := os.Stat(model); err == nil && st.IsDir() {
		abs, err := filepath.Abs(model)
		return location{dir: abs, variant: e.cfg.variant}, err
	}
	id, rev, _ := strings.Cut(model, "@")
	if err := models.ValidateID(id); err != nil {
		if strings.ContainsAny(model, `/\.`) && !strings.Contains(model, "@") {
			return location{}, fmt.Errorf("model %s: no such directory, and %w", model, err)
		}
		return location{}, err
	}
	loc, err := e.cache.Locate(id, rev)
	if err != nil {
		return location{}, &NotCachedError{Model: model, Err: err}
	}
	variant, err := fileVariant(loc, e.cfg.variant)
	if err != nil {
		return location{}, err
	}
	return location{dir: loc.Dir, revision: loc.Commit, repo: loc.Repo, variant: variant}, nil
}

// fileVariant turns a variant name into the file suffix to load: known
// models name their files in the registry (all-MiniLM-L6-v2's "quantized"
// is model_quint8_avx2.onnx); elsewhere the name is the suffix.
func fileVariant(loc models.Location, variant string) (string, error) {
	if loc.Entry == nil || loc.Repo != loc.Entry.Repo {
		return variant, nil
	}
	files, err := loc.Entry.Files(variant)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if base, ok := strings.CutSuffix(filepath.Base(f), ".onnx"); ok {
			if _, sfx, found := strings.Cut(base, "model_"); found {
				return sfx, nil
			}
			return "", nil
		}
	}
	return variant, nil
}

// NotCachedError says a model is not on this machine and how to get it.
type NotCachedError struct {
	Model string
	Why   string // why the network could not help, when it was considered
	Err   error
}

func (e *NotCachedError) Error() string {
	why := ""
	if e.Why != "" {
		why = "; remote: " + e.Why
	}
	return fmt.Sprintf("model %s is not cached on this machine%s; fetch it with `hybridembed models pull %s` (%v)", e.Model, why, modelID(e.Model), e.Err)
}

func (e *NotCachedError) Unwrap() error { return e.Err }

func (e *Embedder) loadLocal(model string) (*local.Model, location, error) {
	loc, err := e.locate(model)
	if err != nil {
		return nil, loc, err
	}
	m, err := e.eng.Load(loc.dir, loc.variant)
	if err != nil {
		return nil, loc, fmt.Errorf("model %s: %w", model, err)
	}
	return m, loc, nil
}

// EmbedTexts embeds texts with model, through the router or the local
// engine as the [Resolver] decides (falling back to the local model when the
// router fails and the model is cached). Results are in input order. A text
// that cannot be embedded (invalid UTF-8) fails alone: its Embedding has no
// Vector and the returned *PartialError names it; the others are valid.
func (e *Embedder) EmbedTexts(ctx context.Context, model string, texts []string) ([]Embedding, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	release, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	dec, err := e.resolver.Route(ctx, model, Text)
	if err != nil {
		return nil, err
	}
	out := make([]Embedding, len(texts))
	var failed []*InputError
	var idx []int
	var valid []string
	for i, t := range texts {
		if !utf8.ValidString(t) {
			failed = append(failed, &InputError{Index: i, Source: excerpt(t), Err: errors.New("text is not valid UTF-8")})
			continue
		}
		idx, valid = append(idx, i), append(valid, t)
	}
	if len(valid) == 0 {
		return out, partial(failed, len(texts))
	}
	if dec.Backend == Remote {
		vecs, rerr := e.embedRemote(ctx, model, valid, dec.Evidence.Local.Dir)
		if rerr == nil {
			for k, i := range idx {
				out[i] = e.remoteEmbedding(model, vecs[k], dec.Reason)
			}
			return out, partial(failed, len(texts))
		}
		if dec.Reason, err = e.fallbackReason(ctx, model, rerr); err != nil {
			return nil, err
		}
	}
	res, loc, dev, err := e.embedLocalTexts(ctx, model, valid)
	var nc *NotCachedError
	switch {
	case errors.As(err, &nc) && dec.Backend == Remote: // the router failed and there is no local copy
		nc.Why = dec.Reason
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, nc)
	case errors.As(err, &nc) && dec.Evidence.Hub != nil:
		nc.Why = dec.Reason
		return nil, nc
	case err != nil:
		return nil, err
	}
	for k, i := range idx {
		if res[k].Err != nil {
			failed = append(failed, &InputError{Index: i, Source: excerpt(texts[i]), Err: res[k].Err})
			continue
		}
		out[i] = e.embedding(model, loc, res[k].Vector, dev, dec.Reason)
	}
	sortFailed(failed)
	return out, partial(failed, len(texts))
}

// embedRemote calls the router's feature-extraction pipeline. localDir is
// the cached copy the Resolver found ("" if none): its pooling config says
// how to pool token states, should the router return them.
func (e *Embedder) embedRemote(ctx context.Context, model string, texts []string, localDir string) ([][]float32, error) {
	var pooling remote.Pooling
	if localDir != "" {
		pooling = e.modelInfo(localDir).pooling
	}
	truncate := true // as the local tokenizer truncates to the model's max length
	return e.client.FeatureExtraction(ctx, modelID(model), texts, remote.Params{Truncate: &truncate}, pooling)
}

// fallbackReason decides whether a router failure may fall back to the local
// model: not for a cancelled call, an auth error or policy remote; a 404
// also marks the model not served for a while.
func (e *Embedder) fallbackReason(ctx context.Context, model string, rerr error) (string, error) {
	switch {
	case ctx.Err() != nil:
		return "", ctx.Err()
	case remote.IsAuth(rerr):
		return "", fmt.Errorf("model %s: %w: %w", model, ErrAuth, rerr)
	case e.cfg.policy == PolicyRemote:
		return "", fmt.Errorf("model %s (policy remote): %w", model, rerr)
	case remote.IsNotServed(rerr):
		e.resolver.markNotServed(modelID(model), "404 Not Found")
		return "the router answered 404 (not served); embedded with the local model", nil
	}
	return fmt.Sprintf("the router failed (%v); fell back to the local model", rerr), nil
}

func (e *Embedder) embedLocalTexts(ctx context.Context, model string, texts []string) ([]local.TextResult, location, ort.Device, error) {
	m, loc, err := e.loadLocal(model)
	if err != nil {
		return nil, loc, "", err
	}
	if !m.HasText() {
		return nil, loc, "", fmt.Errorf("model %s: %w: it has no text tower", model, ErrNoModality)
	}
	res, err := m.EmbedTexts(ctx, texts)
	if err != nil {
		return nil, loc, "", fmt.Errorf("model %s: %w", model, err)
	}
	dev, err := m.Provider(false)
	if err != nil {
		return nil, loc, "", err
	}
	if m.Normalizes() { // the model's own Normalize module, as the router applies it
		for _, r := range res {
			normalize(r.Vector)
		}
	}
	return res, loc, dev, nil
}

func (e *Embedder) remoteEmbedding(model string, vec []float32, reason string) Embedding {
	emb := Embedding{Vector: vec, Model: model, Backend: Remote, Dim: len(vec), Reason: reason}
	if e.cfg.normalize {
		normalize(vec)
	}
	emb.Normalized = isUnit(vec)
	return emb
}

func sortFailed(f []*InputError) {
	sort.Slice(f, func(a, b int) bool { return f[a].Index < f[b].Index })
}

// EmbedImages embeds images with model. Results are in input order. An
// image that cannot be read or decoded (corrupt, truncated, too large)
// fails alone, named in the returned *PartialError; the others are valid.
func (e *Embedder) EmbedImages(ctx context.Context, model string, images []Image) ([]Embedding, error) {
	out := make([]Embedding, len(images))
	var failed []*InputError
	err := e.EmbedImagesFunc(ctx, model, images, func(i int, emb Embedding, err error) error {
		if err != nil {
			failed = append(failed, &InputError{Index: i, Source: images[i].Name(), Err: err})
			return nil
		}
		out[i] = emb
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, partial(failed, len(images))
}

// EmbedImagesFunc embeds images, calling fn for each in input order as
// soon as it and those before it are done, so a caller can stream results.
// fn gets the image's error instead of an embedding when it failed; if fn
// returns an error, the run stops and EmbedImagesFunc returns it.
func (e *Embedder) EmbedImagesFunc(ctx context.Context, model string, images []Image, fn func(i int, emb Embedding, err error) error) error {
	release, err := e.acquire()
	if err != nil {
		return err
	}
	defer release()
	m, loc, err := e.loadLocal(model)
	if err != nil {
		return err
	}
	if !m.HasImages() {
		return fmt.Errorf("model %s: %w: it has no vision tower", model, ErrNoModality)
	}
	dev, err := m.Provider(true)
	if err != nil {
		return fmt.Errorf("model %s: %w", model, err)
	}
	srcs := make([]local.ImageSource, len(images))
	for i, im := range images {
		srcs[i] = imageSource{im}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type done struct {
		emb Embedding
		err error
	}
	pending := map[int]done{}
	next := 0
	runErr := m.EmbedImages(ctx, srcs, func(i int, vec []float32, err error) {
		if err == nil {
			pending[i] = done{emb: e.embedding(model, loc, vec, dev, "images are embedded locally")}
		} else {
			pending[i] = done{err: err}
		}
		for {
			d, ok := pending[next]
			if !ok || context.Cause(ctx) != nil {
				return
			}
			delete(pending, next)
			if ferr := fn(next, d.emb, d.err); ferr != nil {
				cancel(ferr)
				return
			}
			next++
		}
	})
	if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
		return cause // fn stopped the run
	}
	if runErr != nil {
		return runErr
	}
	return nil
}

func (e *Embedder) embedding(model string, loc location, vec []float32, dev ort.Device, reason string) Embedding {
	emb := Embedding{Vector: vec, Model: model, Revision: loc.revision, Backend: Local, Device: string(dev), Dim: len(vec), Reason: reason}
	if e.cfg.normalize {
		normalize(vec)
	}
	emb.Normalized = isUnit(vec)
	return emb
}

// Cosine is the cosine similarity of two vectors of one model (0 when
// either is zero). For normalised vectors it is their dot product.
func Cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range min(len(a), len(b)) {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}

// isUnit reports an L2 norm of 1 (within float32 rounding), whoever
// normalised the vector: us, the model's Normalize module, or the router.
func isUnit(v []float32) bool {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	return math.Abs(ss-1) < 1e-4
}

// normalize scales v to unit L2 norm in place; a zero vector stays as it is
// and reports false.
func normalize(v []float32) bool {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 || math.IsNaN(ss) || math.IsInf(ss, 0) {
		return false
	}
	inv := 1 / math.Sqrt(ss)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
	return true
}

// excerpt names a text in errors without printing all of it.
func excerpt(s string) string {
	const n = 40
	r := []rune(strings.ToValidUTF8(s, "\uFFFD"))
	if len(r) > n {
		return fmt.Sprintf("text %q…", string(r[:n]))
	}
	return fmt.Sprintf("text %q", string(r))
}

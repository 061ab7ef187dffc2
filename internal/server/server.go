// Package server serves an Embedder over HTTP in the two wire formats apps
// already speak: OpenAI's /v1/embeddings and the Hugging Face router's
// feature-extraction route. Requests go through the Embedder, so served
// text models are forwarded to the router (with local fallback) and CLIP
// text and images run locally, batched across concurrent requests.
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hybridembed/hybridembed"
)

// Config is what a Server serves and how it guards itself. The zero value
// of each limit picks the default.
type Config struct {
	// Models are the names the server answers to, each mapped to a model
	// (a Hub id or a directory). Requests for any other name get 404; the
	// server never downloads or opens a path a client names.
	Models map[string]string
	// APIKeys are the bearer keys accepted; none means no authentication.
	APIKeys []string
	// MaxBodyBytes caps a request body (default 32 MiB): over it, 413.
	MaxBodyBytes int64
	// MaxInputs caps the inputs of one request (default 2048, OpenAI's).
	MaxInputs int
	// MaxPending caps the inputs admitted per model at once (default
	// 4096): beyond it requests get 429 with Retry-After, never an
	// unbounded queue.
	MaxPending int
	// Logger receives one line per request (no input contents).
	Logger *slog.Logger
	// Registry is where metrics are registered (default: a new one, served
	// on /metrics).
	Registry *prometheus.Registry
}

func (c *Config) defaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 32 << 20
	}
	if c.MaxInputs <= 0 {
		c.MaxInputs = 2048
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 4096
	}
	c.MaxPending = max(c.MaxPending, c.MaxInputs)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
}

// Server is the HTTP handler. Build it with New.
type Server struct {
	emb    *hybridembed.Embedder
	cfg    Config
	keys   [][sha256.Size]byte
	models map[string]*served
	names  []string // in the order given, for /v1/models
	ready  atomic.Bool
	m      *metrics
	mux    *http.ServeMux
}

// served is one model the server answers for.
type served struct {
	name    string
	model   *hybridembed.Model
	created int64
	pending atomic.Int64 // inputs admitted and not yet answered
}

// New resolves every model once and builds the handler. It does not load
// them: call Warm (the server answers /ready with 503 until it has).
func New(ctx context.Context, emb *hybridembed.Embedder, cfg Config) (*Server, error) {
	cfg.defaults()
	if len(cfg.Models) == 0 {
		return nil, errors.New("server: no models to serve")
	}
	s := &Server{emb: emb, cfg: cfg, models: map[string]*served{}}
	for _, k := range cfg.APIKeys {
		if k == "" {
			return nil, errors.New("server: an empty API key")
		}
		// Keys are compared as hashes, so the comparison takes the same
		// time whatever their lengths.
		s.keys = append(s.keys, sha256.Sum256([]byte(k)))
	}
	now := time.Now().Unix()
	for name, target := range cfg.Models {
		m, err := emb.Model(ctx, target)
		if err != nil {
			return nil, fmt.Errorf("server: model %s: %w", name, err)
		}
		s.models[name] = &served{name: name, model: m, created: now}
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	s.m = newMetrics(cfg.Registry, emb, s)
	s.routes()
	return s, nil
}

// Warm loads each model's local files and opens its sessions, so the
// first request does not pay for it; then /ready answers 200. It never
// calls the router: a model whose files are not here has nothing to load.
func (s *Server) Warm(ctx context.Context) error {
	for _, name := range s.names {
		sv := s.models[name]
		if cached, _ := sv.model.Cached(); !cached {
			continue
		}
		if err := sv.model.Load(ctx); err != nil {
			return fmt.Errorf("loading %s: %w", name, err)
		}
	}
	s.ready.Store(true)
	return nil
}

// Handler is the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "loading"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "models": s.names})
	})
	s.handle("GET /metrics", "metrics", s.m.handler(), apiHF)
	s.handle("POST /v1/embeddings", "openai", http.HandlerFunc(s.openAIEmbeddings), apiOpenAI)
	s.handle("GET /v1/models", "models", http.HandlerFunc(s.openAIModels), apiOpenAI)
	s.handle("POST /hf-inference/models/", "hf", http.HandlerFunc(s.hfRouter), apiHF)
	s.handle("POST /models/", "hf", http.HandlerFunc(s.hfModels), apiHF)
	// TEI's and an endpoint's own routes: a client given the server's base
	// URL (InferenceClient(base_url=...)) posts to it directly.
	s.handle("POST /{$}", "hf", http.HandlerFunc(s.hfSingle), apiHF)
	s.handle("POST /embed", "hf", http.HandlerFunc(s.hfSingle), apiHF)
	s.handle("POST /pipeline/feature-extraction", "hf", http.HandlerFunc(s.hfSingle), apiHF)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		api := apiHF
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			api = apiOpenAI
		}
		writeError(w, r, api, errNotFound("no route for %s %s", r.Method, r.URL.Path))
	})
}

// handle wraps a route with authentication, the body limit, metrics and
// the request log.
func (s *Server) handle(pattern, route string, h http.Handler, api apiKind) {
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Request-Id", id)
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		info := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		if s.authorized(r) {
			r.Body = http.MaxBytesReader(rec, r.Body, s.cfg.MaxBodyBytes)
			h.ServeHTTP(rec, r)
		} else {
			writeError(rec, r, api, errUnauthorized())
		}
		d := time.Since(start)
		s.m.observe(route, rec.status, d)
		s.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rec.status),
			slog.Duration("duration", d), slog.String("model", info.model), slog.Int("inputs", info.inputs),
			slog.String("backend", info.backend), slog.String("remote", r.RemoteAddr))
	}))
}

// requestID is the client's X-Request-Id when it is a sane token (so logs
// of both sides can be joined), else a new random one.
func requestID(given string) string {
	if len(given) > 0 && len(given) <= 64 && strings.Trim(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") == "" {
		return given
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) authorized(r *http.Request) bool {
	if len(s.keys) == 0 {
		return true
	}
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	found := 0
	for _, k := range s.keys {
		found |= subtle.ConstantTimeCompare(sum[:], k[:])
	}
	return found == 1
}

// lookup finds a served model by name.
func (s *Server) lookup(name string) (*served, error) {
	sv, ok := s.models[name]
	if !ok {
		return nil, errModelNotFound(name)
	}
	return sv, nil
}

// dirNames maps each local model directory to the (first) name it is
// served under, for metric labels.
func (s *Server) dirNames() map[string]string {
	out := map[string]string{}
	for _, name := range s.names {
		if dir := s.models[name].model.Info().Dir; dir != "" {
			if _, ok := out[dir]; !ok {
				out[dir] = name
			}
		}
	}
	return out
}

// admit reserves room for n inputs of sv, or refuses with 429.
func (s *Server) admit(sv *served, n int) (release func(), err error) {
	if sv.pending.Add(int64(n)) > int64(s.cfg.MaxPending) {
		sv.pending.Add(-int64(n))
		s.m.rejected.WithLabelValues(sv.name).Inc()
		return nil, errBusy(sv.name)
	}
	s.m.pending.WithLabelValues(sv.name).Add(float64(n))
	var once sync.Once
	return func() {
		once.Do(func() {
			sv.pending.Add(-int64(n))
			s.m.pending.WithLabelValues(sv.name).Sub(float64(n))
		})
	}, nil
}

type infoKey struct{}

// requestInfo is what a handler tells the request log.
type requestInfo struct {
	model   string
	inputs  int
	backend string
}

func infoOf(r *http.Request) *requestInfo {
	if i, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

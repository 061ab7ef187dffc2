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
	"image"
	"image/color"
	"log/slog"
	"math"
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
	// MaxBodyBytes caps a request body (default 32 MiB): a Content-Length
	// over it gets 413 before any of the body is read; a body without one
	// is cut off with 413 once it passes the limit.
	MaxBodyBytes int64
	// MaxInflightBytes is the memory budget of the requests in flight,
	// across every route and model (default 384 MiB). A request holds
	// its share from before its body is read until its response is
	// written: three times the body's length for JSON (the body, its
	// strings, the images decoded from base64), once for a raw image
	// body. Decoding images takes from the same budget (see MaxPixels),
	// and a request that does not fit now gets 429 with Retry-After.
	MaxInflightBytes int64
	// MaxPixels caps one image's pixels, read from its header before any
	// is decoded (default 40 megapixels): over it the input fails with
	// 400. Each decode holds its pixels' memory (see decodeBytes) of the
	// budget, waiting for room in arrival order; requests' bodies always
	// leave room for one image of MaxPixels to decode.
	MaxPixels int64
	// MaxInputs caps the inputs of one request (default 2048, OpenAI's).
	MaxInputs int
	// MaxPending caps the inputs admitted per model at once (default
	// 4096): beyond it requests get 429 with Retry-After. It bounds each
	// model's queue of inputs, not memory: that is MaxInflightBytes'.
	MaxPending int
	// ReadHeaderTimeout bounds reading a request's headers (default
	// 10 s), BodyTimeout its body (default 60 s, from the end of the
	// headers), IdleTimeout how long a kept-alive connection may wait
	// for its next request (default 120 s), and WriteTimeout writing a
	// response once it is ready (default 60 s). A slow client is cut
	// off, and its share of the budget released; the inference between
	// body and response is not bounded by any of them.
	ReadHeaderTimeout, BodyTimeout, IdleTimeout, WriteTimeout time.Duration
	// Logger receives one line per request (no input contents).
	Logger *slog.Logger
	// Registry is where metrics are registered (default: a new one, served
	// on /metrics).
	Registry *prometheus.Registry
}

// Defaults of Config's limits.
const (
	DefaultMaxBodyBytes     = 32 << 20
	DefaultMaxInflightBytes = 384 << 20
	DefaultMaxPixels        = 40_000_000
)

func (c *Config) defaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxInflightBytes <= 0 {
		c.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if c.MaxPixels <= 0 {
		c.MaxPixels = DefaultMaxPixels
	}
	for _, t := range []struct {
		d   *time.Duration
		def time.Duration
	}{{&c.ReadHeaderTimeout, 10 * time.Second}, {&c.BodyTimeout, time.Minute}, {&c.IdleTimeout, 2 * time.Minute}, {&c.WriteTimeout, time.Minute}} {
		if *t.d <= 0 {
			*t.d = t.def
		}
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
	mem    *memory
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
	// Bodies always leave room to decode one image of the largest size;
	// what they may hold beyond that must fit a body of the largest size.
	reserve := decodeBytes(image.Config{Width: int(min(cfg.MaxPixels, math.MaxInt32)), Height: 1, ColorModel: color.RGBAModel})
	if need := reserve + jsonCopies*cfg.MaxBodyBytes; cfg.MaxInflightBytes < need {
		return nil, fmt.Errorf("server: a memory budget of %d bytes cannot hold a body of the largest size (%d bytes, held %d times over) beside the decode of an image of the largest size (%d pixels, %d bytes): give at least %d bytes, or lower the body or pixel limit",
			cfg.MaxInflightBytes, cfg.MaxBodyBytes, jsonCopies, cfg.MaxPixels, reserve, need)
	}
	s := &Server{emb: emb, cfg: cfg, models: map[string]*served{}, mem: newMemory(cfg.MaxInflightBytes, reserve)}
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

// Handler is the server's http.Handler. Serve it with HTTPServer's
// timeouts: without them a slow client holds its connection, and its
// share of the memory budget, for as long as it likes.
func (s *Server) Handler() http.Handler { return s.mux }

// HTTPServer is an http.Server for the handler with the configured
// timeouts. The body and response timeouts are set per request by the
// handler (net/http's ReadTimeout would also cancel a request whose
// inference outlasts it), so ReadTimeout and WriteTimeout stay unset.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{Handler: s.mux, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout, IdleTimeout: s.cfg.IdleTimeout}
}

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
	s.handle("GET /metrics", "metrics", bodiless(s.m.handler()), apiHF)
	s.handle("POST /v1/embeddings", "openai", s.openAIEmbeddings, apiOpenAI)
	s.handle("GET /v1/models", "models", bodiless(http.HandlerFunc(s.openAIModels)), apiOpenAI)
	s.handle("GET /v1/models/{id...}", "models", bodiless(http.HandlerFunc(s.openAIRetrieve)), apiOpenAI)
	s.handle("POST /hf-inference/models/", "hf", s.hfRouter, apiHF)
	s.handle("POST /models/", "hf", s.hfModels, apiHF)
	s.handle("GET /models/", "info", bodiless(http.HandlerFunc(s.hfModelsGet)), apiHF)
	// TEI's and an endpoint's own routes: a client given the server's base
	// URL (InferenceClient(base_url=...)) posts to it directly.
	s.handle("POST /{$}", "hf", s.hfSingle, apiHF)
	s.handle("POST /embed", "hf", s.hfSingle, apiHF)
	s.handle("POST /pipeline/feature-extraction", "hf", s.hfSingle, apiHF)
	s.handle("GET /info", "info", bodiless(http.HandlerFunc(s.info)), apiHF)
	s.handle("POST /tokenize", "tokenize", s.tokenize, apiHF)
	// Every other path and method: 405 or 404, after the key like every
	// route (so that who has none learns no route), with the request's id
	// and its log line; its body is never read.
	s.handleRoute("/", "unmatched", func(w http.ResponseWriter, r *http.Request, _ []byte) {
		api := apiByPath.forPath(r)
		if allow := s.allowed(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, r, api, errMethod(r, allow))
			return
		}
		writeError(w, r, api, errNotFound("no route for %s %s", r.Method, r.URL.Path))
	}, apiByPath, false)
}

// allowed is the methods another route serves r's path with: a request
// with the wrong one gets 405 and them in Allow, not 404 (the catch-all
// route would otherwise answer every path, for every method).
func (s *Server) allowed(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := *r
		probe.Method = m
		if _, pattern := s.mux.Handler(&probe); pattern != "/" && pattern != "" {
			out = append(out, m)
		}
	}
	return out
}

// bodyHandler serves a request whose body has been read (and admitted).
type bodyHandler func(w http.ResponseWriter, r *http.Request, body []byte)

// bodiless is a route that reads no body.
func bodiless(h http.Handler) bodyHandler {
	return func(w http.ResponseWriter, r *http.Request, _ []byte) { h.ServeHTTP(w, r) }
}

// handle wraps a route with authentication, admission of its body into
// the memory budget, metrics and the request log.
func (s *Server) handle(pattern, route string, h bodyHandler, api apiKind) {
	s.handleRoute(pattern, route, h, api, true)
}

// handleRoute is handle, for a route that reads its body (after GET, which
// has none) or not.
func (s *Server) handleRoute(pattern, route string, h bodyHandler, api apiKind, readsBody bool) {
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api := api.forPath(r)
		start := time.Now()
		id := requestID(r.Header.Get("X-Request-Id"))
		w.Header().Set("X-Request-Id", id)
		rec := &recorder{ResponseWriter: w, status: http.StatusOK, writeTimeout: s.cfg.WriteTimeout}
		info := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		ok, sentToken := s.authorized(r)
		switch {
		case !ok:
			writeError(rec, r, api, errUnauthorized(sentToken))
		case r.Method == http.MethodGet || !readsBody:
			h(rec, r, nil)
		default:
			body, release, err := s.readBody(rec, r)
			if err != nil {
				release()
				s.refuse(rec, r, api, err)
			} else {
				h(rec, r, body)
			}
			body = nil
			release()
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

// authorized reports whether r carries an accepted key, and whether it
// carried a bearer token at all.
func (s *Server) authorized(r *http.Request) (ok, sentToken bool) {
	if len(s.keys) == 0 {
		return true, false
	}
	// The scheme is case-insensitive (RFC 7235 2.1): "bearer KEY" is sent
	// by some clients.
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false, false
	}
	sum := sha256.Sum256([]byte(token))
	found := 0
	for _, k := range s.keys {
		found |= subtle.ConstantTimeCompare(sum[:], k[:])
	}
	return found == 1, true
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

// recorder keeps the status for the log and metrics, and bounds the time
// the response may take to write from when it starts (a client that does
// not read its response would otherwise hold its handler, and its share
// of the budget, for ever).
type recorder struct {
	http.ResponseWriter
	status       int
	wrote        bool
	writeTimeout time.Duration
}

func (r *recorder) WriteHeader(code int) {
	if r.wrote {
		return
	}
	r.wrote = true
	r.status = code
	if r.writeTimeout > 0 {
		_ = http.NewResponseController(r.ResponseWriter).SetWriteDeadline(time.Now().Add(r.writeTimeout))
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

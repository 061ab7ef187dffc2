// Package hftest is an in-process emulator of the Hugging Face router (the
// feature-extraction routes of hf-inference, together, scaleway and
// deepinfra) and Hub API over real HTTP, with fault injection, for tests. Served models answer with vectors from an
// independent reference (PyTorch goldens, see [Server.ServeReference]),
// never from hybridembed's own engine, so comparing remote, local and
// reference vectors can fail; faults reproduce what the real services do
// wrong, from the plain-text 404 to a connection cut mid-body.
package hftest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// EmbedFunc computes one vector per text for a served model.
type EmbedFunc func(ctx context.Context, texts []string) ([][]float32, error)

// Fault is a failure to inject.
type Fault struct {
	Kind Kind
	// EstimatedTime (Loading) and RetryAfter (RateLimited, Loading) are
	// what the server announces.
	EstimatedTime time.Duration
	RetryAfter    time.Duration
	// Delay is how long a Slow answer stalls before it starts.
	Delay time.Duration
}

// Kind is what goes wrong.
type Kind int

const (
	PlainNotFound   Kind = iota // 404 "Not Found", text/plain (the router's no-route answer)
	JSONNotFound                // 404 {"error": "Model ... does not exist"}
	Unauthorized                // 401 {"error": "Invalid credentials in Authorization header"}
	Forbidden                   // 403 {"error": "...gated..."}
	PaymentRequired             // 402
	BadRequest                  // 422 {"error": ["..."]} (a list, as some deployments send)
	Loading                     // 503 {"error": "Model X is currently loading", "estimated_time": N}
	RateLimited                 // 429 with Retry-After
	TooLarge                    // 413
	ServerError                 // 500 {"error": "..."}
	BadGateway                  // 502 with an HTML page
	GatewayTimeout              // 504 text/plain
	Slow                        // a correct answer after Delay
	ResetMidBody                // 200, half a body, then the connection is cut
	MalformedJSON               // 200 application/json that is not JSON
	WrongDims                   // 200 with vectors of differing widths
	WrongCount                  // 200 with one vector too few
	HTMLBody                    // 200 text/html (a captive portal)
	TokenLevel                  // 200 with token states [n][tokens][dim] instead of vectors
	Hang                        // accept the request and never answer (until the client gives up)
	DuplicateIndex              // 200 from an OpenAI-shaped route with two data items of one index
)

// Request is one request the server saw.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

type servedModel struct {
	embed     EmbedFunc
	normalize bool // the model's own pipeline L2-normalises
	// raw, when set, gives the vectors before the pipeline's normalisation,
	// for requests that ask for normalize: false.
	raw EmbedFunc
	// maxTokens, when set, is the model's input limit: a longer text
	// without truncate gets text-embeddings-inference's validation error.
	maxTokens int
	tokens    func(string) int
}

// Server is the emulator. Its zero value is not usable; call [New].
type Server struct {
	URL    string // base URL: serves both the router and the Hub API
	CDNURL string // where LFS content is redirected: another host, as on the real Hub

	srv, cdn *httptest.Server

	mu       sync.Mutex
	token    string // required bearer token; "" accepts any, including none
	served   map[string]servedModel
	mappings map[string][]Entry // model -> inferenceProviderMapping, in the Hub's order
	listForm bool
	commits  map[string]string // model -> the Hub's current commit, when set
	// deployments are the OpenAI-shaped providers' models: provider ->
	// provider id -> the model (providers.go).
	deployments map[string]map[string]deployment
	faults      map[string][]Fault // model ("" for any) -> queued faults
	requests    []Request
	repos       map[string]*repo // Hub file hosting (files.go)
	seq         int              // answers given, to vary the order of shuffled data
}

// Entry is one provider of a model's inference provider mapping, as the
// Hub lists it.
type Entry struct {
	Provider   string
	Status     string // "live", "staging", "error"
	ProviderID string
	Task       string // "feature-extraction" when empty
}

// New starts an emulator, closed when the test ends.
func New(tb testing.TB) *Server {
	s := &Server{served: map[string]servedModel{}, mappings: map[string][]Entry{}, commits: map[string]string{},
		deployments: map[string]map[string]deployment{}, faults: map[string][]Fault{}, repos: map[string]*repo{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	s.cdn = httptest.NewServer(http.HandlerFunc(s.handleCDN))
	s.URL, s.CDNURL = s.srv.URL, s.cdn.URL
	tb.Cleanup(s.srv.Close)
	tb.Cleanup(s.cdn.Close)
	return s
}

// RequireToken makes the server answer 401 to requests without this bearer
// token.
func (s *Server) RequireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// Serve makes model served on hf-inference: the Hub maps it to
// hf-inference (live; added last to the mapping, or updated in place) and
// the router answers feature extraction with embed. normalize says whether
// the model's pipeline normalises (as sentence-transformers models with a
// Normalize module do).
func (s *Server) Serve(model string, embed EmbedFunc, normalize bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.served[model]
	m.embed, m.normalize = embed, normalize
	s.served[model] = m
	s.upsertLocked(model, Entry{Provider: "hf-inference", Status: "live", ProviderID: model, Task: "feature-extraction"})
}

// upsertLocked puts e into model's mapping: in its place if the provider
// is there, else last.
func (s *Server) upsertLocked(model string, e Entry) {
	if e.Task == "" {
		e.Task = "feature-extraction"
	}
	entries := s.mappings[model]
	for i := range entries {
		if entries[i].Provider == e.Provider {
			entries[i] = e
			return
		}
	}
	s.mappings[model] = append(entries, e)
}

// Limit sets model's input limit in tokens, counted by tokens: a longer
// text is refused with a 413 validation error, as text-embeddings-inference
// does, unless the request says "truncate": true.
func (s *Server) Limit(model string, maxTokens int, tokens func(string) int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.served[model]
	m.maxTokens, m.tokens = maxTokens, tokens
	s.served[model] = m
}

// Map sets the Hub's provider mapping for model without serving it on the
// router (e.g. {} for CLIP, or a "staging" entry). A Go map has no order:
// its providers are listed sorted; use [Server.MapEntries] for an order.
func (s *Server) Map(model string, mapping map[string]any) {
	names := make([]string, 0, len(mapping))
	for n := range mapping {
		names = append(names, n)
	}
	sort.Strings(names)
	entries := []Entry{}
	for _, n := range names {
		v, _ := mapping[n].(map[string]any)
		str := func(k string) string { x, _ := v[k].(string); return x }
		entries = append(entries, Entry{Provider: n, Status: str("status"), ProviderID: str("providerId"), Task: str("task")})
	}
	s.MapEntries(model, entries...)
}

// MapEntries sets the Hub's provider mapping for model, in this order,
// without changing what the providers' routes serve: an entry whose
// provider does not serve its id is a stale mapping, which the route
// answers with 404.
func (s *Server) MapEntries(model string, entries ...Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mappings[model] = []Entry{}
	for _, e := range entries {
		s.upsertLocked(model, e)
	}
}

// SetCommit sets the commit the Hub reports as model's current one (its
// "sha"). Without it a hosted repo reports its main commit, any other
// model a fixed hash derived from its id.
func (s *Server) SetCommit(model, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits[model] = sha
}

// MappingAsList makes the Hub answer the mapping in the listing endpoint's
// list form ([{"provider": ..., ...}]).
func (s *Server) MappingAsList(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listForm = on
}

// Inject queues faults for the router's next feature-extraction requests
// for model ("" for any model), through any provider; each fault answers
// one request, in order.
func (s *Server) Inject(model string, faults ...Fault) { s.inject("router:"+model, faults) }

// InjectProvider queues faults for the next requests for model (its Hub
// id) through one provider's route only; they are answered before those
// queued by [Server.Inject].
func (s *Server) InjectProvider(provider, model string, faults ...Fault) {
	s.inject("router:"+provider+"/"+model, faults)
}

// InjectHub queues faults for the Hub's next answers about model: its API
// (provider mapping, revision, tree) and file metadata. ResetMidBody and
// Slow apply to the file content that follows.
func (s *Server) InjectHub(model string, faults ...Fault) { s.inject("hub:"+model, faults) }

func (s *Server) inject(key string, faults []Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[key] = append(s.faults[key], faults...)
}

// Requests returns what the server saw, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count is how many requests the server has seen whose path starts with
// prefix ("" for all).
func (s *Server) Count(prefix string) int {
	n := 0
	for _, r := range s.Requests() {
		if strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

// nextFault pops the next fault for a service ("router", "hub", "cdn")
// and model, else for the service and any model.
func (s *Server) nextFault(service, model string) (Fault, bool) {
	return s.popFault(service+":"+model, service+":")
}

// routerFault pops the next fault for a request to provider's route for
// model: provider-specific ones first.
func (s *Server) routerFault(provider, model string) (Fault, bool) {
	return s.popFault("router:"+provider+"/"+model, "router:"+model, "router:")
}

func (s *Server) popFault(keys ...string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range keys {
		if q := s.faults[key]; len(q) > 0 {
			s.faults[key] = q[1:]
			return q[0], true
		}
	}
	return Fault{}, false
}

func (s *Server) record(r *http.Request) []byte {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	return body
}

func (s *Server) handleCDN(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	sha, ok := strings.CutPrefix(r.URL.Path, "/cdn/")
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	s.serveCDN(w, r, sha)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	body := s.record(r)
	s.mu.Lock()
	token := s.token
	s.mu.Unlock()

	if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "Invalid credentials in Authorization header"})
		return
	}
	path := r.URL.Path
	if provider, ok := openAIRoutes[path]; ok {
		s.openAIEmbeddings(w, r, provider, body)
		return
	}
	switch {
	case strings.HasPrefix(path, "/hf-inference/models/") && strings.HasSuffix(path, "/pipeline/feature-extraction"):
		model := strings.TrimSuffix(strings.TrimPrefix(path, "/hf-inference/models/"), "/pipeline/feature-extraction")
		s.featureExtraction(w, r, model, body)
	case strings.HasPrefix(path, "/api/models/"):
		s.hubAPI(w, r, strings.TrimPrefix(path, "/api/models/"))
	default:
		if s.serveFile(w, r) {
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "Not Found")
	}
}

func (s *Server) featureExtraction(w http.ResponseWriter, r *http.Request, model string, body []byte) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "POST only"})
		return
	}
	f, faulty := s.routerFault("hf-inference", model)
	if faulty && s.writeFault(w, r, f, model) {
		return
	}
	s.mu.Lock()
	m, ok := s.served[model]
	s.mu.Unlock()
	if !ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "Not Found")
		return
	}
	req, verr := parseRequest(body)
	if verr != nil {
		writeJSON(w, verr.status, map[string]any{"error": verr.msg, "error_type": "Validation"})
		return
	}
	if m.maxTokens > 0 && (req.Truncate == nil || !*req.Truncate) {
		for _, t := range req.texts {
			if n := m.tokens(t); n > m.maxTokens {
				writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{
					"error":      fmt.Sprintf("Input validation error: `inputs` must have less than %d tokens. Given: %d", m.maxTokens, n),
					"error_type": "Validation"})
				return
			}
		}
	}
	norm := m.normalize
	if req.Normalize != nil {
		norm = *req.Normalize
	}
	embed := m.embed
	if !norm && m.raw != nil {
		embed = m.raw
	}
	vecs, err := embed(r.Context(), req.texts)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": err.Error()})
		return
	}
	if norm {
		for _, v := range vecs {
			l2(v)
		}
	}
	if faulty {
		switch f.Kind {
		case WrongDims:
			vecs[len(vecs)-1] = vecs[len(vecs)-1][:len(vecs[len(vecs)-1])-1]
			if len(vecs) == 1 {
				vecs = append(vecs, vecs[0][:1])
			}
		case WrongCount:
			vecs = vecs[:len(vecs)-1]
		case TokenLevel:
			states := make([][][]float32, len(vecs))
			for i, v := range vecs {
				states[i] = [][]float32{v, v, v} // mean-pools back to v
			}
			writeJSON(w, http.StatusOK, states)
			return
		}
	}
	if req.single && len(vecs) == 1 {
		writeJSON(w, http.StatusOK, vecs[0])
		return
	}
	writeJSON(w, http.StatusOK, vecs)
}

// writeFault answers with the fault, or returns false for faults that
// corrupt a correct answer (the caller computes it).
func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, f Fault, model string) bool {
	w.Header().Set("X-Request-Id", fmt.Sprintf("hftest-%d", time.Now().UnixNano()))
	switch f.Kind {
	case PlainNotFound:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "Not Found")
	case JSONNotFound:
		writeJSON(w, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("Model %s does not exist", model)})
	case Unauthorized:
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "Invalid credentials in Authorization header"})
	case Forbidden:
		writeJSON(w, http.StatusForbidden, map[string]any{"error": "Access to model " + model + " is restricted; you must have access to it"})
	case PaymentRequired:
		writeJSON(w, http.StatusPaymentRequired, map[string]any{"error": "You have exceeded your monthly included credits for Inference Providers."})
	case BadRequest:
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": []string{"Input validation error: `inputs` must have less than 512 tokens"}})
	case Loading:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int(f.RetryAfter.Seconds())))
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "Model " + model + " is currently loading", "estimated_time": f.EstimatedTime.Seconds()})
	case RateLimited:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(f.RetryAfter.Seconds()))))
		}
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "Rate limit reached. You reached free usage limit (reset hourly)."})
	case TooLarge:
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"error": "Payload too large"})
	case ServerError:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "Internal Server Error"})
	case BadGateway:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center></body>\r\n</html>")
	case GatewayTimeout:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusGatewayTimeout)
		fmt.Fprint(w, "upstream request timeout")
	case Slow:
		time.Sleep(f.Delay)
		return false
	case Hang:
		<-r.Context().Done() // the client gave up, or the server is closing
		return true
	case ResetMidBody:
		w.Header().Set("Content-Type", "application/json")
		cutAfter(w, []byte("[[0.1, 0.2, 0.3, 0.4]]"+strings.Repeat(" ", 4096)), 15)
	case MalformedJSON:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `[[0.1, 0.2,, "oops"`)
	case HTMLBody:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "<html><title>Sign in to the network</title></html>")
	default: // WrongDims, WrongCount, TokenLevel, DuplicateIndex: corrupt a real answer
		return false
	}
	return true
}

func (s *Server) hubAPI(w http.ResponseWriter, r *http.Request, rest string) {
	if s.serveRepoAPI(w, r, rest) {
		return
	}
	model, rev, isRevision := strings.Cut(rest, "/revision/")
	if f, ok := s.nextFault("hub", model); ok && s.writeFault(w, r, f, model) {
		return
	}
	s.mu.Lock()
	entries, ok := s.mappings[model]
	entries = append([]Entry(nil), entries...)
	listForm := s.listForm
	_, hosted := s.repos[model]
	s.mu.Unlock()
	if !ok && !hosted {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "Repository not found"})
		return
	}
	sha := s.currentCommit(model)
	if isRevision { // a mapped model that hosts no files: main is its only branch
		if rev != "main" && rev != sha {
			w.Header().Set("X-Error-Code", "RevisionNotFound")
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "Invalid rev id: " + rev})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": model, "sha": sha, "siblings": []any{}})
		return
	}
	// The Hub answers the fields expand[] asks for (all of the default
	// ones when it asks for none), and the mapping in the order the
	// account prefers: written by hand, since a Go map would lose it.
	expand := r.URL.Query()["expand[]"]
	asked := func(field string) bool { return len(expand) == 0 || slices.Contains(expand, field) }
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"_id":"hftest","id":%s`, jsonString(model))
	if asked("sha") {
		fmt.Fprintf(&b, `,"sha":%s`, jsonString(sha))
	}
	if slices.Contains(expand, "inferenceProviderMapping") {
		b.WriteString(`,"inferenceProviderMapping":`)
		open, end := "{", "}"
		if listForm {
			open, end = "[", "]"
		}
		b.WriteString(open)
		for i, e := range entries {
			if i > 0 {
				b.WriteByte(',')
			}
			fields := fmt.Sprintf(`"status":%s,"providerId":%s,"task":%s`, jsonString(e.Status), jsonString(e.ProviderID), jsonString(e.Task))
			if listForm {
				fmt.Fprintf(&b, `{"provider":%s,"hfModelId":%s,%s}`, jsonString(e.Provider), jsonString(model), fields)
			} else {
				fmt.Fprintf(&b, `%s:{%s}`, jsonString(e.Provider), fields)
			}
		}
		b.WriteString(end)
	}
	b.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// currentCommit is the commit the Hub reports as model's current one.
func (s *Server) currentCommit(model string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.commits[model]; c != "" {
		return c
	}
	if rp, ok := s.repos[model]; ok {
		return rp.commit
	}
	sum := sha1.Sum([]byte("hftest:" + model))
	return hex.EncodeToString(sum[:])
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// l2 normalises a reference vector. It is deliberately not the engine's
// (internal/pooling): the emulator must answer from an independent
// reference, or a bug shared with the code under test would go unseen.
func l2(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := 1 / math.Sqrt(s)
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
}

// Repeat is n copies of f, for faults that should outlast the retries.
func Repeat(f Fault, n int) []Fault {
	out := make([]Fault, n)
	for i := range out {
		out[i] = f
	}
	return out
}

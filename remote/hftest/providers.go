package hftest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
)

// openAIRoutes are the router's OpenAI-shaped embeddings routes, by
// provider (spec/hf-api.md §4b).
var openAIRoutes = map[string]string{
	"/together/v1/embeddings":         "together",
	"/scaleway/v1/embeddings":         "scaleway",
	"/deepinfra/v1/openai/embeddings": "deepinfra",
}

// openAIFields are the body fields the OpenAI-shaped routes accept, by
// provider: together and deepinfra take OpenAI's optional ones (the
// clients pass the caller's extra arguments through), scaleway documents
// input and model only.
var openAIFields = map[string]map[string]bool{
	"together":  {"input": true, "model": true, "encoding_format": true, "dimensions": true, "user": true},
	"scaleway":  {"input": true, "model": true},
	"deepinfra": {"input": true, "model": true, "encoding_format": true, "dimensions": true, "user": true, "service_tier": true},
}

// deployment is a model a provider serves under its own id.
type deployment struct {
	model     string // the Hub id
	embed     EmbedFunc
	normalize bool // the deployment answers L2-normalised vectors
}

// ServeProvider makes provider ("together", "scaleway" or "deepinfra")
// serve model under providerID on its OpenAI-shaped route, and adds a live
// feature-extraction entry for it to the Hub's mapping (last, or in its
// place). normalize says whether the deployment answers unit vectors.
// For hf-inference use [Server.Serve].
func (s *Server) ServeProvider(provider, model, providerID string, embed EmbedFunc, normalize bool) {
	if _, ok := openAIFields[provider]; !ok {
		panic(fmt.Sprintf("hftest: %q has no OpenAI-shaped route (use Serve for hf-inference)", provider))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deployments[provider] == nil {
		s.deployments[provider] = map[string]deployment{}
	}
	s.deployments[provider][providerID] = deployment{model: model, embed: embed, normalize: normalize}
	s.upsertLocked(model, Entry{Provider: provider, Status: "live", ProviderID: providerID, Task: "feature-extraction"})
}

// openAIError answers with OpenAI's error object, as the providers do.
func openAIError(w http.ResponseWriter, status int, typ, code, msg string) {
	e := map[string]any{"message": msg, "type": typ}
	if code != "" {
		e["code"] = code
	}
	writeJSON(w, status, map[string]any{"error": e})
}

// openAIEmbeddings serves POST {router}/{provider}/.../embeddings as
// strictly as the providers do: the HF-shaped body ("inputs") and unknown
// fields are refused, the model is the provider's id (an unknown one, or
// the Hub id where they differ, is a 404), and data comes back shuffled,
// so that only its index fields place the vectors.
func (s *Server) openAIEmbeddings(w http.ResponseWriter, r *http.Request, provider string, body []byte) {
	if r.Method != http.MethodPost {
		openAIError(w, http.StatusMethodNotAllowed, "invalid_request_error", "", "POST only")
		return
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "", "could not parse the JSON body: "+err.Error())
		return
	}
	var unknown []string
	for k := range raw {
		if !openAIFields[provider][k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "", fmt.Sprintf("unrecognized request argument(s): %s", strings.Join(unknown, ", ")))
		return
	}
	var id string
	if err := json.Unmarshal(raw["model"], &id); err != nil || id == "" {
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "", "you must provide a model parameter")
		return
	}
	var texts []string
	if err := json.Unmarshal(raw["input"], &texts); err != nil {
		var one string
		if err := json.Unmarshal(raw["input"], &one); err != nil {
			openAIError(w, http.StatusBadRequest, "invalid_request_error", "", "'input' is required: a string or a list of strings")
			return
		}
		texts = []string{one}
	}
	if len(texts) == 0 {
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "", "'input' cannot be an empty list")
		return
	}
	for i, t := range texts {
		if t == "" {
			openAIError(w, http.StatusBadRequest, "invalid_request_error", "", fmt.Sprintf("input[%d] cannot be an empty string", i))
			return
		}
	}
	if v, ok := raw["encoding_format"]; ok && string(v) != `"float"` {
		openAIError(w, http.StatusBadRequest, "invalid_request_error", "", "only encoding_format float is served")
		return
	}
	s.mu.Lock()
	d, ok := s.deployments[provider][id]
	s.mu.Unlock()
	model := d.model
	if !ok { // faults queued for the Hub id still apply to a stale mapping's id
		model = s.hubIDFor(provider, id)
	}
	f, faulty := s.routerFault(provider, model)
	if faulty && s.writeFault(w, r, f, model) {
		return
	}
	if !ok {
		openAIError(w, http.StatusNotFound, "invalid_request_error", "model_not_found",
			fmt.Sprintf("Unable to access model %s. Please visit the provider's model list for the models it serves.", id))
		return
	}
	vecs, err := d.embed(r.Context(), texts)
	if err != nil {
		openAIError(w, http.StatusInternalServerError, "server_error", "", err.Error())
		return
	}
	if d.normalize {
		for _, v := range vecs {
			l2(v)
		}
	}
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	data := make([]item, len(vecs))
	for i, v := range vecs {
		data[i] = item{"embedding", i, v}
	}
	if faulty {
		switch f.Kind {
		case WrongDims:
			last := &data[len(data)-1].Embedding
			*last = (*last)[:len(*last)-1]
		case WrongCount:
			data = data[:len(data)-1]
		case DuplicateIndex:
			if len(data) > 1 {
				data[1].Index = data[0].Index
			} else {
				data = append(data, data[0])
			}
		}
	}
	shuffled := make([]item, len(data))
	for i, p := range s.permutation(len(data)) {
		shuffled[i] = data[p]
	}
	tokens := 0
	for _, t := range texts {
		tokens += len(strings.Fields(t)) + 2
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list", "model": id, "data": shuffled,
		"usage": map[string]any{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}

// permutation is an order for n items that never keeps two or more in
// theirs.
func (s *Server) permutation(n int) []int {
	s.mu.Lock()
	s.seq++
	seed := uint64(s.seq)
	s.mu.Unlock()
	perm := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)).Perm(n)
	for i, p := range perm {
		if i != p {
			return perm
		}
	}
	for i := range perm { // the identity came up: reverse instead
		perm[i] = n - 1 - i
	}
	return perm
}

// hubIDFor is the Hub id whose mapping names id on provider, or "".
func (s *Server) hubIDFor(provider, id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for model, entries := range s.mappings {
		for _, e := range entries {
			if e.Provider == provider && e.ProviderID == id {
				return model
			}
		}
	}
	return ""
}

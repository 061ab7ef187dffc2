package remote

import (
	"encoding/json"
	"slices"
)

// Providers that embed through the router (spec/hf-api.md §4b). Each has
// one adapter file (provider_*.go) and one line in the registry below.
const (
	HFInference = "hf-inference"
	Together    = "together"
	Scaleway    = "scaleway"
	DeepInfra   = "deepinfra"
)

// adapter says how one provider's feature extraction is reached through
// the router, as huggingface.js's per-provider task helpers do
// (makeRoute, preparePayload, getResponse): its route, its request body,
// how its answer reads, and how many inputs one request may carry. The
// Client and the Resolver never branch on a provider's name.
type adapter interface {
	// route is the path under {router}/{provider}/ for a model's id at
	// the provider (the mapping's providerId).
	route(providerID string) string
	// body is the request for inputs.
	body(providerID string, inputs []string, p Params) ([]byte, error)
	// parse reads a 200 answer for n inputs, in input order. It is pure:
	// bytes in, vectors or an error out.
	parse(body []byte, n int, pool Pooling) ([][]float32, error)
	// maxInputs is the most inputs one request carries: the provider's
	// published limit, or a conservative default where none is published.
	maxInputs() int
	// serves reports whether a mapping entry's task is one this route
	// answers.
	serves(task string) bool
}

var registry = map[string]adapter{
	HFInference: hfInference{},
	Together:    together,
	Scaleway:    scaleway,
	DeepInfra:   deepInfra,
}

// Providers lists the providers hybridembed can embed through, sorted.
func Providers() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// KnownProvider reports whether hybridembed has an adapter for provider.
func KnownProvider(provider string) bool {
	_, ok := registry[provider]
	return ok
}

// Embeds reports whether provider's route answers a mapping entry with
// task: hybridembed has an adapter for it, and the task is feature
// extraction (or, on hf-inference, sentence similarity, which runs the
// same pipeline; huggingface_hub #2967/#2968).
func Embeds(provider, task string) bool {
	a, ok := registry[provider]
	return ok && a.serves(task)
}

// DefaultMaxInputs is the most inputs one request to provider carries
// unless [Client.MaxInputs] says otherwise (0 for an unknown provider).
func DefaultMaxInputs(provider string) int {
	if a, ok := registry[provider]; ok {
		return a.maxInputs()
	}
	return 0
}

// openAIEmbeddings is the shared base of the providers that speak
// OpenAI's embeddings API behind the router: {"input": [...], "model":
// providerId}, answered with data[].embedding placed by data[].index.
type openAIEmbeddings struct {
	path string // under {router}/{provider}/
	max  int
}

func (o openAIEmbeddings) route(string) string { return o.path }
func (o openAIEmbeddings) maxInputs() int      { return o.max }

// serves: the OpenAI-shaped providers run feature extraction only (the
// clients' registries have no sentence-similarity helper for them).
func (o openAIEmbeddings) serves(task string) bool { return task == "feature-extraction" }

// body sends the provider's id, never the Hub id, and nothing else: the
// feature-extraction parameters are hf-inference's (text-embeddings-
// inference's), which these APIs do not take. "model" comes last, as
// huggingface.js writes it, so that nothing before it can override it.
func (o openAIEmbeddings) body(providerID string, inputs []string, _ Params) ([]byte, error) {
	return json.Marshal(struct {
		Input []string `json:"input"`
		Model string   `json:"model"`
	}{inputs, providerID})
}

func (o openAIEmbeddings) parse(body []byte, n int, _ Pooling) ([][]float32, error) {
	return parseEmbeddingsList(body, n)
}

package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Serving is whether the router serves a model on hf-inference.
type Serving string

const (
	Served    Serving = "served"     // hf-inference is live
	Staging   Serving = "staging"    // mapped but staging: may work for the owner only
	NotServed Serving = "not-served" // no hf-inference mapping: the pipeline route 404s
)

// Provider is one entry of a model's inference provider mapping.
type Provider struct {
	Status     string `json:"status"`
	ProviderID string `json:"providerId"`
	Task       string `json:"task"`
}

// Mapping is what the Hub says about serving a model.
type Mapping struct {
	Model       string              `json:"model"`
	Providers   map[string]Provider `json:"providers"`
	Inference   string              `json:"inference,omitempty"` // "warm" when loaded
	PipelineTag string              `json:"pipeline_tag,omitempty"`
	Fetched     time.Time           `json:"fetched"`
}

// HFInference is the provider hybridembed routes to.
const HFInference = "hf-inference"

// Serving reads the hf-inference entry.
func (m Mapping) Serving() Serving {
	p, ok := m.Providers[HFInference]
	switch {
	case !ok:
		return NotServed
	case p.Status == "live":
		return Served
	}
	return Staging
}

// ProviderNames lists the providers that map the model, sorted.
func (m Mapping) ProviderNames() []string {
	var names []string
	for n := range m.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ProviderMapping asks the Hub which inference providers serve model. The
// per-model endpoint answers an object keyed by provider; the listing
// endpoint's list form (entries with a "provider" field) is read too.
func (c *Client) ProviderMapping(ctx context.Context, model string) (Mapping, error) {
	path := "/api/models/" + modelPath(model) + "?expand[]=inferenceProviderMapping&expand[]=inference&expand[]=pipeline_tag"
	var raw struct {
		Mapping     json.RawMessage `json:"inferenceProviderMapping"`
		Inference   string          `json:"inference"`
		PipelineTag string          `json:"pipeline_tag"`
	}
	if err := c.hubGet(ctx, model, path, &raw); err != nil {
		return Mapping{}, err
	}
	m := Mapping{Model: model, Providers: map[string]Provider{}, Inference: raw.Inference, PipelineTag: raw.PipelineTag, Fetched: time.Now()}
	if len(raw.Mapping) > 0 && string(raw.Mapping) != "null" {
		if err := parseMapping(raw.Mapping, m.Providers); err != nil {
			return Mapping{}, &TransportError{Model: model, URL: c.hub() + path, Err: err}
		}
	}
	return m, nil
}

func parseMapping(raw json.RawMessage, into map[string]Provider) error {
	var obj map[string]Provider
	if err := json.Unmarshal(raw, &obj); err == nil {
		for k, v := range obj {
			into[k] = v
		}
		return nil
	}
	var list []struct {
		Provider
		Name string `json:"provider"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("%w: inferenceProviderMapping is neither an object nor a list", ErrMalformed)
	}
	for _, p := range list {
		if p.Name == "" {
			return errors.New("inferenceProviderMapping entry without a provider name")
		}
		into[p.Name] = p.Provider
	}
	return nil
}

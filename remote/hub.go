package remote

import (
	"context"
	"encoding/json"
	"time"
)

// MappingEntry is one provider of a model's inference provider mapping.
type MappingEntry struct {
	Provider string `json:"provider"`
	// Status is "live", "staging" (usable by the provider's organisation
	// only) or "error".
	Status string `json:"status"`
	// ProviderID is the model's id at the provider, which requests name
	// (scaleway serves Qwen/Qwen3-Embedding-8B as qwen3-embedding-8b).
	ProviderID string `json:"providerId"`
	Task       string `json:"task"`
}

// Live reports a live entry.
func (e MappingEntry) Live() bool { return e.Status == "live" }

// Mapping is what the Hub says about serving a model.
type Mapping struct {
	Model string `json:"model"`
	// Providers are in the Hub's order: the account's preference order
	// (hf.co/settings/inference-providers), which the official clients'
	// provider "auto" follows by taking the first.
	Providers   []MappingEntry `json:"providers"`
	Inference   string         `json:"inference,omitempty"` // "warm" when loaded
	PipelineTag string         `json:"pipeline_tag,omitempty"`
	// SHA is the current commit of the repo's default branch: the one
	// providers deploy.
	SHA     string    `json:"sha,omitempty"`
	Fetched time.Time `json:"fetched"`
}

// Entry is provider's entry, if the mapping has one.
func (m Mapping) Entry(provider string) (MappingEntry, bool) {
	for _, e := range m.Providers {
		if e.Provider == provider {
			return e, true
		}
	}
	return MappingEntry{}, false
}

// ProviderNames lists the providers that map the model, in the Hub's
// order.
func (m Mapping) ProviderNames() []string {
	names := make([]string, len(m.Providers))
	for i, e := range m.Providers {
		names[i] = e.Provider
	}
	return names
}

// ProviderMapping asks the Hub which inference providers serve model, in
// its order, with the repo's pipeline tag and current commit. The
// per-model endpoint answers an object keyed by provider; the listing
// endpoint's list form (entries with a "provider" field) is read too.
func (c *Client) ProviderMapping(ctx context.Context, model string) (Mapping, error) {
	path := "/api/models/" + modelPath(model) + "?expand[]=inferenceProviderMapping&expand[]=inference&expand[]=pipeline_tag&expand[]=sha"
	var raw struct {
		Mapping     json.RawMessage `json:"inferenceProviderMapping"`
		Inference   string          `json:"inference"`
		PipelineTag string          `json:"pipeline_tag"`
		SHA         string          `json:"sha"`
	}
	if err := c.hubGet(ctx, model, path, &raw); err != nil {
		return Mapping{}, err
	}
	m := Mapping{Model: model, Inference: raw.Inference, PipelineTag: raw.PipelineTag, SHA: raw.SHA, Fetched: time.Now()}
	if len(raw.Mapping) > 0 && string(raw.Mapping) != "null" {
		entries, err := parseMapping(raw.Mapping)
		if err != nil {
			return Mapping{}, &TransportError{Model: model, URL: c.hub() + stripQuery(path), Err: err}
		}
		m.Providers = entries
	}
	return m, nil
}

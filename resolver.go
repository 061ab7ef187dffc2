package hybridembed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hybridembed/hybridembed/models"
	"github.com/hybridembed/hybridembed/models/layout"
	"github.com/hybridembed/hybridembed/remote"
)

// Policy overrides the Resolver's rules.
type Policy string

const (
	// PolicyAuto follows the routing rules (the default).
	PolicyAuto Policy = "auto"
	// PolicyRemote sends text to the router and never falls back.
	PolicyRemote Policy = "remote"
	// PolicyLocal never touches the network.
	PolicyLocal Policy = "local"
)

// ParsePolicy parses "auto", "remote" or "local" ("" is auto).
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(strings.ToLower(s)); p {
	case "":
		return PolicyAuto, nil
	case PolicyAuto, PolicyRemote, PolicyLocal:
		return p, nil
	}
	return "", fmt.Errorf("unknown policy %q (want auto, remote or local)", s)
}

// Modality is what is being embedded.
type Modality string

const (
	ModalityText  Modality = "text"
	ModalityImage Modality = "image"
)

// Decision is where one (model, modality) goes and why.
type Decision struct {
	Model    string   `json:"model"`
	Modality Modality `json:"modality"`
	Backend  Backend  `json:"backend"`
	Reason   string   `json:"reason"`
	Evidence Evidence `json:"evidence"`
}

// Evidence is what a Decision rests on.
type Evidence struct {
	Policy    Policy `json:"policy"`
	Offline   bool   `json:"offline"`
	Token     bool   `json:"token"`
	Family    string `json:"family,omitempty"`
	RouterURL string `json:"router_url"`
	Local     struct {
		Dir      string `json:"dir,omitempty"`
		Layout   string `json:"layout,omitempty"` // transformers.js, immich or model.onnx
		Repo     string `json:"repo,omitempty"`
		Revision string `json:"revision,omitempty"`
		Err      string `json:"error,omitempty"`
	} `json:"local"`
	Hub            *HubEvidence `json:"hub,omitempty"`
	NotServedUntil *time.Time   `json:"not_served_until,omitempty"`
}

// HubEvidence is what the Hub said about serving a model.
type HubEvidence struct {
	Serving   remote.Serving `json:"serving,omitempty"`
	Providers []string       `json:"providers,omitempty"`
	Task      string         `json:"task,omitempty"`
	Inference string         `json:"inference,omitempty"`
	Fetched   time.Time      `json:"fetched,omitempty"`
	Cached    bool           `json:"from_cache"`
	Err       string         `json:"error,omitempty"`
}

// Resolver decides, per model and modality, whether to use the router or
// the local engine, following these rules (overridable by [Policy]):
//
//   - images always run locally; CLIP-family models run locally for text
//     too, so that text and image vectors share one space;
//   - offline (WithOffline, HF_HUB_OFFLINE=1), or no token, means local;
//   - text goes to the router when the Hub maps the model to a live
//     hf-inference provider; a 404 from the router marks it not served for
//     a while (on disk) and routes to local;
//   - loading, rate limits and server errors are retried within the
//     caller's deadline, then fall back to local if the model is cached;
//   - 401/403 is an auth error, never silently answered locally.
type Resolver struct {
	e            *Embedder
	state        *routerState
	mappingTTL   time.Duration
	notServedFor time.Duration
}

// Route decides where model's inputs of modality go. It may ask the Hub for
// the provider mapping (cached on disk), but never when offline.
func (r *Resolver) Route(ctx context.Context, model string, modality Modality) (Decision, error) {
	return r.e.Resolve(ctx, model, modality)
}

func (r *Resolver) route(ctx context.Context, m *Model, modality Modality) (Decision, error) {
	e, model := r.e, m.name
	d := Decision{Model: model, Modality: modality, Backend: BackendLocal}
	ev := &d.Evidence
	ev.Policy, ev.Offline, ev.Token, ev.RouterURL = e.cfg.policy, e.cfg.offline, e.client.HasToken(), e.client.FeatureExtractionURL(modelID(model))

	if m.locErr == nil {
		ev.Local.Dir, ev.Local.Revision, ev.Local.Repo, ev.Local.Layout = m.loc.dir, m.loc.revision, m.loc.repo, m.info.Layout
		ev.Family = m.info.Family
	} else {
		ev.Local.Err = m.locErr.Error()
	}
	if entry, ok := models.Lookup(modelID(model)); ok {
		ev.Family = string(entry.Family)
	}
	isDir := isDirectory(model)

	switch {
	case modality == ModalityImage:
		d.Reason = "images are embedded locally (no provider serves image feature extraction)"
		return d, nil
	case isDir:
		d.Reason = "the model is a local directory"
		return d, nil
	case e.cfg.policy == PolicyLocal:
		d.Reason = "policy is local"
		return d, nil
	case e.cfg.offline:
		d.Reason = "offline (HF_HUB_OFFLINE or --offline): the network is not used"
		return d, nil
	case layout.Family(ev.Family).ImageText():
		d.Reason = fmt.Sprintf("image-text model (%s): its text vectors must come from the same local model as its image vectors", ev.Family)
		return d, nil
	case e.cfg.policy == PolicyRemote:
		d.Backend, d.Reason = BackendRemote, "policy is remote"
		return d, nil
	case !e.client.HasToken():
		d.Reason = "no Hugging Face token (set HF_TOKEN, or log in with huggingface-cli) to use the router"
		return d, nil
	}
	now := time.Now()
	if ns, ok := r.state.notServed(modelID(model), now); ok {
		until := ns.Until
		ev.NotServedUntil = &until
		d.Reason = fmt.Sprintf("the router answered %s at %s; treated as not served until %s", ns.Reason, ns.Since.Format(time.RFC3339), until.Format(time.RFC3339))
		return d, nil
	}
	mp, cached, err := r.mapping(ctx, modelID(model))
	ev.Hub = &HubEvidence{Cached: cached}
	if err != nil {
		ev.Hub.Err = err.Error()
		switch {
		case remote.IsAuth(err):
			return d, fmt.Errorf("model %s: %w", model, err)
		case remote.IsNotServed(err):
			d.Reason = "the Hub does not know this repo (404), so the router cannot serve it"
		default:
			d.Reason = "the Hub could not be asked whether the router serves it: " + err.Error()
		}
		return d, nil
	}
	ev.Hub.Serving, ev.Hub.Providers, ev.Hub.Inference, ev.Hub.Fetched = mp.Serving(), mp.ProviderNames(), mp.Inference, mp.Fetched
	ev.Hub.Task = mp.Providers[remote.HFInference].Task
	if isImageTask(mp.PipelineTag) {
		ev.Family = string(layout.FamilyCLIP)
		d.Reason = "the Hub lists it as " + mp.PipelineTag + ": an image-text model, embedded locally"
		return d, nil
	}
	switch mp.Serving() {
	case remote.Served:
		d.Backend, d.Reason = BackendRemote, "the Hub maps it to hf-inference (live)"
	case remote.Staging:
		d.Reason = "its hf-inference mapping is staging only (may work for the owner only)"
	default:
		if len(mp.Providers) == 0 {
			d.Reason = "no inference provider serves it"
		} else {
			d.Reason = "hf-inference does not serve it (providers: " + strings.Join(mp.ProviderNames(), ", ") + ")"
		}
	}
	return d, nil
}

func isImageTask(tag string) bool {
	switch tag {
	case "zero-shot-image-classification", "image-feature-extraction", "image-classification", "image-to-text":
		return true
	}
	return false
}

// mapping returns the provider mapping from the disk cache, or asks the Hub
// (briefly: routing must not hang on a slow Hub) and caches the answer.
func (r *Resolver) mapping(ctx context.Context, model string) (remote.Mapping, bool, error) {
	if m, ok := r.state.mapping(model, r.mappingTTL, time.Now()); ok {
		return m, true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := r.e.hubClient().ProviderMapping(ctx, model)
	if err != nil {
		return m, false, err
	}
	_ = r.state.update(func() { r.state.Mappings[model] = m })
	return m, false, nil
}

// markNotServed remembers a router 404 so that later calls (and later runs)
// go straight to the local model.
func (r *Resolver) markNotServed(model, why string) {
	now := time.Now()
	_ = r.state.update(func() {
		r.state.NotServed[model] = notServed{Since: now, Until: now.Add(r.notServedFor), Reason: why}
	})
}

// modelID strips an @revision.
func modelID(model string) string { return strings.SplitN(model, "@", 2)[0] }

func isDirectory(model string) bool {
	st, err := os.Stat(model)
	return err == nil && st.IsDir()
}

// Probe is what one live feature-extraction request to the router said.
type Probe struct {
	URL        string        `json:"url"`
	Status     string        `json:"status"` // ok, not-served, loading, unauthorized, rate-limited, error, skipped
	HTTPStatus int           `json:"http_status,omitempty"`
	Message    string        `json:"message,omitempty"`
	Dim        int           `json:"dim,omitempty"`
	Estimated  time.Duration `json:"estimated_time,omitempty"`
	RequestID  string        `json:"request_id,omitempty"`
}

// ProbeRouter sends one short text to the router's feature-extraction route
// for model, without retries, and classifies the answer; with the Hub's
// mapping it tells a wrong URL from a model that is not served or loading.
func (e *Embedder) ProbeRouter(ctx context.Context, model string) Probe {
	c := *e.client
	c.Retry = remote.RetryPolicy{MaxAttempts: 1}
	p := Probe{URL: c.FeatureExtractionURL(modelID(model))}
	if e.cfg.offline {
		p.Status, p.Message = "skipped", "offline"
		return p
	}
	vecs, err := c.FeatureExtraction(ctx, modelID(model), []string{"hybridembed resolve probe"}, remote.Params{}, "mean")
	var he *remote.HTTPError
	if errors.As(err, &he) {
		p.HTTPStatus, p.Message, p.RequestID, p.Estimated = he.StatusCode, he.Message, he.RequestID, he.EstimatedTime
	} else if err != nil {
		p.Message = err.Error()
	}
	switch {
	case err == nil:
		p.Status, p.Dim = "ok", len(vecs[0])
	case remote.IsNotServed(err):
		p.Status = "not-served"
	case remote.IsAuth(err):
		p.Status = "unauthorized"
	case errors.Is(err, remote.ErrLoading):
		p.Status = "loading"
	case errors.Is(err, remote.ErrRateLimited):
		p.Status = "rate-limited"
	default:
		p.Status = "error"
	}
	return p
}

// Diagnose answers "wrong URL, not served, or warming up?" from a decision
// and a probe.
func Diagnose(d Decision, p Probe) string {
	hub := d.Evidence.Hub
	served := hub != nil && hub.Err == "" && hub.Serving == remote.Served
	switch {
	case p.Status == "ok":
		return fmt.Sprintf("served: the router answers with %d-dimensional vectors", p.Dim)
	case p.Status == "loading":
		return fmt.Sprintf("warming up: the router says the model is loading (about %s); it will be served", p.Estimated.Round(time.Second))
	case p.Status == "not-served" && served:
		return "wrong URL: the Hub says hf-inference serves this model, but " + p.URL + " answers 404; check --router-url / HYBRIDEMBED_ROUTER_URL (want https://router.huggingface.co)"
	case p.Status == "not-served":
		return "not served: no provider serves this model on hf-inference, so it runs locally"
	case p.Status == "unauthorized":
		return "unauthorized: the router refused the token; set HF_TOKEN to a valid token"
	case p.Status == "skipped":
		return "offline: only local models are used"
	case p.Status == "rate-limited":
		return "rate limited: the router is served but throttling this token"
	}
	return "the router could not be reached or failed: " + p.Message
}

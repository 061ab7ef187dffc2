package hybridembed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/hybridembed/hybridembed/models"
	"github.com/hybridembed/hybridembed/models/layout"
	"github.com/hybridembed/hybridembed/remote"
)

// Policy overrides the routing rules (see [Embedder.Resolve]).
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
	// Providers is the chain for text sent to the router: every provider
	// the routing considered, in the order they are tried, each with why
	// it is tried or skipped.
	Providers []ProviderStep `json:"providers,omitempty"`
	// Revision is the commit a pinned model@rev is served at remotely
	// (the Hub's current one); "" otherwise.
	Revision string   `json:"revision,omitempty"`
	Evidence Evidence `json:"evidence"`
}

// ProviderStep is one inference provider in a [Decision]'s chain.
type ProviderStep struct {
	Provider string `json:"provider"`
	// ProviderID is the model's id at the provider, which requests name.
	ProviderID string `json:"provider_id,omitempty"`
	// Status is the Hub's ("live", "staging", "error"), or "unmapped"
	// for a provider asked for by WithProviders that the Hub does not
	// map the model to.
	Status string `json:"status"`
	Task   string `json:"task,omitempty"`
	// Use says the provider is tried (in the chain's order).
	Use bool   `json:"use"`
	Why string `json:"why"`
	// NotServedUntil is set while the router's 404 for this provider is
	// remembered.
	NotServedUntil *time.Time `json:"not_served_until,omitempty"`
}

// Evidence is what a Decision rests on.
type Evidence struct {
	Policy  Policy `json:"policy"`
	Offline bool   `json:"offline"`
	Token   bool   `json:"token"`
	Family  string `json:"family,omitempty"`
	// RouterURL and HubURL are the bases routing memory is keyed by.
	RouterURL string `json:"router_url"`
	HubURL    string `json:"hub_url"`
	// Providers are the providers asked for (WithProviders); empty for
	// auto.
	Providers []string `json:"providers_asked,omitempty"`
	Local     struct {
		Dir      string `json:"dir,omitempty"`
		Layout   string `json:"layout,omitempty"` // transformers.js, immich or model.onnx
		Repo     string `json:"repo,omitempty"`
		Revision string `json:"revision,omitempty"`
		Err      string `json:"error,omitempty"`
	} `json:"local"`
	Hub *HubEvidence `json:"hub,omitempty"`
}

// HubEvidence is what the Hub said about serving a model.
type HubEvidence struct {
	Providers   []string  `json:"providers,omitempty"` // mapped, in the Hub's order
	Inference   string    `json:"inference,omitempty"`
	PipelineTag string    `json:"pipeline_tag,omitempty"`
	SHA         string    `json:"sha,omitempty"` // the current commit
	Fetched     time.Time `json:"fetched,omitempty"`
	Cached      bool      `json:"from_cache"`
	Err         string    `json:"error,omitempty"`
	// FailedUntil is set when Err is a failure remembered from an earlier
	// lookup: the Hub is not asked again before then.
	FailedUntil *time.Time `json:"failed_until,omitempty"`
}

// resolver decides, per model and modality, whether to use the router or
// the local engine: the rules [Embedder.Resolve] lists.
type resolver struct {
	e            *Embedder
	state        *routerState
	mappingTTL   time.Duration
	notServedFor time.Duration
	hubTimeout   time.Duration
	flight       singleflight.Group
}

func (r *resolver) route(ctx context.Context, m *Model, modality Modality) (Decision, error) {
	e, model := r.e, m.name
	id, rev, _ := strings.Cut(model, "@")
	d := Decision{Model: model, Modality: modality, Backend: BackendLocal}
	ev := &d.Evidence
	ev.Policy, ev.Offline, ev.Token = e.cfg.policy, e.cfg.offline, e.client.HasToken()
	ev.RouterURL, ev.HubURL, ev.Providers = e.client.Router(), e.client.Hub(), e.cfg.providers

	if m.locErr == nil {
		ev.Local.Dir, ev.Local.Revision, ev.Local.Repo, ev.Local.Layout = m.loc.dir, m.loc.revision, m.loc.repo, m.info.Layout
		ev.Family = m.info.Family
	} else {
		ev.Local.Err = m.locErr.Error()
	}
	if entry, ok := models.Lookup(id); ok {
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
		return r.routeRemote(ctx, d, id, rev)
	case !e.client.HasToken():
		d.Reason = "no Hugging Face token (set HF_TOKEN, or log in with huggingface-cli) to use the router"
		return d, nil
	}
	mp, err := r.lookup(ctx, &d, id, rev != "")
	if err != nil {
		switch {
		case remote.IsAuth(err):
			return d, fmt.Errorf("model %s: %w", model, err)
		case ctx.Err() != nil:
			return d, ctx.Err()
		case remote.IsNotServed(err):
			d.Reason = "the Hub does not know this repo (404), so no provider serves it"
		default:
			d.Reason = "the Hub could not be asked whether a provider serves it: " + err.Error()
		}
		return d, nil
	}
	if isImageTask(mp.PipelineTag) {
		ev.Family = string(layout.FamilyCLIP)
		d.Reason = "the Hub lists it as " + mp.PipelineTag + ": an image-text model, embedded locally"
		return d, nil
	}
	d.Providers = r.chain(mp, id, true)
	first, ok := firstUsed(d.Providers)
	if !ok {
		d.Reason = noProviderReason(mp, d.Providers)
		return d, nil
	}
	if rev != "" {
		commit, why := r.pinned(ctx, id, rev, mp)
		if commit == "" {
			d.Reason = why
			for i := range d.Providers {
				if d.Providers[i].Use {
					d.Providers[i].Use, d.Providers[i].Why = false, "live, but for the current commit, not "+rev
				}
			}
			return d, nil
		}
		d.Revision = commit
	}
	d.Backend, d.Reason = BackendRemote, "the Hub maps it to "+first.Provider+" (live)"
	return d, nil
}

// routeRemote is policy remote: the router, never the local model. The
// Hub's mapping, when it can be had, gives the providers and their ids;
// without one, hf-inference under the Hub id is tried.
func (r *resolver) routeRemote(ctx context.Context, d Decision, id, rev string) (Decision, error) {
	d.Backend, d.Reason = BackendRemote, "policy is remote"
	mp, err := r.lookup(ctx, &d, id, rev != "")
	switch {
	case remote.IsAuth(err):
		return d, fmt.Errorf("model %s: %w", d.Model, err)
	case ctx.Err() != nil:
		return d, ctx.Err()
	case err == nil:
		d.Providers = r.chain(mp, id, false)
	}
	if _, ok := firstUsed(d.Providers); !ok {
		// Forced remote, and the Hub names no live provider (or could not
		// be asked): hf-inference under the Hub id, as before providers,
		// unless --provider rules it out.
		asked := r.e.cfg.providers
		if len(asked) > 0 && !slices.Contains(asked, remote.HFInference) {
			return d, fmt.Errorf("model %s (policy remote): %w: %s", d.Model, remote.ErrNotServed, noProviderReason(mp, d.Providers))
		}
		why := "policy is remote: tried although the Hub maps no live provider"
		if err != nil {
			why = "policy is remote and the Hub could not be asked: tried under the Hub id"
		}
		i := slices.IndexFunc(d.Providers, func(s ProviderStep) bool { return s.Provider == remote.HFInference })
		if i < 0 {
			d.Providers = append(d.Providers, ProviderStep{Provider: remote.HFInference, ProviderID: id, Status: "unmapped"})
			i = len(d.Providers) - 1
		}
		if d.Providers[i].ProviderID == "" {
			d.Providers[i].ProviderID = id
		}
		d.Providers[i].Use, d.Providers[i].Why = true, why
	}
	if rev != "" {
		if err != nil {
			return d, fmt.Errorf("model %s (policy remote): pinned to %s, and the Hub could not say whether that is the commit the providers serve: %w", d.Model, rev, err)
		}
		commit, why := r.pinned(ctx, id, rev, mp)
		if commit == "" {
			return d, fmt.Errorf("model %s (policy remote): %s", d.Model, why)
		}
		d.Revision = commit
	}
	return d, nil
}

func firstUsed(steps []ProviderStep) (ProviderStep, bool) {
	for _, s := range steps {
		if s.Use {
			return s, true
		}
	}
	return ProviderStep{}, false
}

// noProviderReason says why no provider is used, in one clause.
func noProviderReason(mp remote.Mapping, steps []ProviderStep) string {
	if len(mp.Providers) == 0 && len(steps) == 0 {
		return "no inference provider serves it"
	}
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = s.Provider + ": " + s.Why
	}
	return "no provider embeds it through the router (" + strings.Join(parts, "; ") + ")"
}

// chain is the providers to try for model, in order: the Hub's (the
// account's preference), or WithProviders' followed by the Hub's others,
// skipped. With marks, remembered 404s are skipped too.
func (r *resolver) chain(mp remote.Mapping, model string, marks bool) []ProviderStep {
	asked := r.e.cfg.providers
	var steps []ProviderStep
	judge := func(e remote.MappingEntry) {
		st := ProviderStep{Provider: e.Provider, ProviderID: e.ProviderID, Status: e.Status, Task: e.Task}
		switch {
		case len(asked) > 0 && !slices.Contains(asked, e.Provider):
			st.Why = "not among the providers asked for (--provider)"
		case !remote.KnownProvider(e.Provider):
			st.Why = "hybridembed has no adapter for it (it does not embed through the router)"
		case !remote.Embeds(e.Provider, e.Task):
			st.Why = fmt.Sprintf("mapped for %s, not feature extraction", orUnknown(e.Task))
		case e.Status == "staging":
			st.Why = "staging: usable by the provider's organisation only"
		case !e.Live():
			st.Why = fmt.Sprintf("its status is %s, not live", orUnknown(e.Status))
		case e.ProviderID == "":
			st.Why = "the mapping gives no provider id"
		default:
			st.Use, st.Why = true, "live on the Hub"
			if !marks {
				break
			}
			if ns, ok := r.state.notServed(r.e.client.Router(), e.Provider, model, time.Now()); ok {
				until := ns.Until
				st.Use, st.NotServedUntil = false, &until
				st.Why = fmt.Sprintf("the router answered %s at %s; treated as not served until %s",
					ns.Reason, ns.Since.Format(time.RFC3339), until.Format(time.RFC3339))
			}
		}
		steps = append(steps, st)
	}
	for _, name := range asked {
		if e, ok := mp.Entry(name); ok {
			judge(e)
		} else {
			steps = append(steps, ProviderStep{Provider: name, Status: "unmapped", Why: "the Hub does not map the model to it"})
		}
	}
	for _, e := range mp.Providers {
		if !slices.Contains(asked, e.Provider) {
			judge(e)
		}
	}
	return steps
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed task"
	}
	return s
}

// pinned decides a pinned model@rev: providers serve the Hub's current
// commit only, so rev must be it (a commit hash, or a branch or tag that
// resolves to it). It returns the commit, or why not.
func (r *resolver) pinned(ctx context.Context, id, rev string, mp remote.Mapping) (string, string) {
	switch {
	case mp.SHA == "":
		return "", fmt.Sprintf("pinned to %s, and the Hub did not say which commit the providers serve", rev)
	case strings.EqualFold(rev, mp.SHA):
		return mp.SHA, ""
	case models.IsCommit(rev):
		return "", fmt.Sprintf("pinned to %s, but the Hub's current commit is %s, the only one providers serve", shortSHA(rev), shortSHA(mp.SHA))
	}
	ctx, cancel := context.WithTimeout(ctx, r.hubTimeout)
	defer cancel()
	got, err := r.e.hubClient().Revision(ctx, id, rev)
	switch {
	case err != nil:
		return "", fmt.Sprintf("pinned to %s, which the Hub could not resolve to a commit (%v)", rev, err)
	case !strings.EqualFold(got.Commit, mp.SHA):
		return "", fmt.Sprintf("pinned to %s (commit %s), but the Hub's current commit is %s, the only one providers serve", rev, shortSHA(got.Commit), shortSHA(mp.SHA))
	}
	return mp.SHA, ""
}

func shortSHA(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

func isImageTask(tag string) bool {
	switch tag {
	case "zero-shot-image-classification", "image-feature-extraction", "image-classification", "image-to-text":
		return true
	}
	return false
}

// pinnedMaxAge bounds the age of the mapping a pinned revision is judged
// by: its current commit must be recent, or a push to the repo would let
// an old pin through to a provider serving the new commit.
const pinnedMaxAge = 5 * time.Minute

// lookup gets model's mapping (see mapping) and records it, or the
// failure, in d's evidence; for a pinned revision the mapping must be
// recent (pinnedMaxAge).
func (r *resolver) lookup(ctx context.Context, d *Decision, model string, pinned bool) (remote.Mapping, error) {
	maxAge := r.mappingTTL
	if pinned {
		maxAge = min(maxAge, pinnedMaxAge)
	}
	mp, cached, err := r.mapping(ctx, model, maxAge)
	h := &HubEvidence{Cached: cached}
	d.Evidence.Hub = h
	var rem *rememberedError
	if errors.As(err, &rem) {
		until := rem.f.Until
		h.FailedUntil = &until
	}
	if err != nil {
		h.Err = err.Error()
		return mp, err
	}
	h.Providers, h.Inference, h.PipelineTag, h.SHA, h.Fetched = mp.ProviderNames(), mp.Inference, mp.PipelineTag, mp.SHA, mp.Fetched
	return mp, nil
}

// rememberedError is a Hub lookup's failure, remembered from an earlier
// lookup (of this process or an earlier run).
type rememberedError struct{ f hubFailure }

func (e *rememberedError) Error() string {
	return fmt.Sprintf("%s (at %s; not asked again until %s)", e.f.Err, e.f.Since.Format(time.TimeOnly), e.f.Until.Format(time.TimeOnly))
}

// mapping returns the Hub's mapping for model: remembered (if younger
// than maxAge), or asked for,
// briefly (routing must not hang on a slow Hub: WithHubTimeout). Callers
// asking at once share one request; a failure is remembered for a minute,
// for the whole Hub when it could not be reached or did not answer in
// time, for the model when it answered with an error (auth errors are
// never remembered: they are returned, and a fixed token works at once).
func (r *resolver) mapping(ctx context.Context, model string, maxAge time.Duration) (remote.Mapping, bool, error) {
	hub := r.e.client.Hub()
	remembered := func() (remote.Mapping, bool, error) {
		now := time.Now()
		if m, ok := r.state.mapping(hub, model, maxAge, now); ok {
			return m, true, nil
		}
		if f, ok := r.state.hubFailure(hub, model, now); ok {
			return remote.Mapping{}, true, &rememberedError{f}
		}
		return remote.Mapping{}, false, nil
	}
	if m, ok, err := remembered(); ok {
		return m, err == nil, err
	}
	ch := r.flight.DoChan(mappingKey(hub, model), func() (any, error) {
		if m, ok, err := remembered(); ok { // another lookup just finished
			return m, err
		}
		// The Embedder's context, not the first caller's: one caller
		// giving up must not fail the others' shared lookup.
		lctx, cancel := context.WithTimeout(r.e.ctx, r.hubTimeout)
		defer cancel()
		m, err := r.e.hubClient().ProviderMapping(lctx, model)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("%s: no answer within %s: %w", hub, r.hubTimeout, err)
			}
			r.rememberFailure(hub, model, err)
			return nil, err
		}
		_ = r.state.update(func(d *stateData) { d.Mappings[mappingKey(hub, model)] = m })
		return m, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return remote.Mapping{}, false, res.Err
		}
		return res.Val.(remote.Mapping), false, nil
	case <-ctx.Done():
		return remote.Mapping{}, false, ctx.Err()
	}
}

func (r *resolver) rememberFailure(hub, model string, err error) {
	if remote.IsAuth(err) || r.e.ctx.Err() != nil { // auth: returned; closing: not the Hub's fault
		return
	}
	key := hubFailureKey(hub, model)
	var he *remote.HTTPError
	if !errors.As(err, &he) && !errors.Is(err, remote.ErrMalformed) { // unreachable or silent: the whole Hub
		key = hubFailureKey(hub, "")
	}
	now := time.Now()
	_ = r.state.update(func(d *stateData) {
		d.HubFailures[key] = hubFailure{Since: now, Until: now.Add(hubFailureTTL), Err: err.Error()}
	})
}

// markNotServed remembers a provider's 404 for model on the router, so
// that later calls (and later runs) skip it.
func (r *resolver) markNotServed(provider, model, why string) {
	now := time.Now()
	_ = r.state.update(func(d *stateData) {
		d.NotServed[notServedKey(r.e.client.Router(), provider, model)] = notServed{Since: now, Until: now.Add(r.notServedFor), Reason: why}
	})
}

// ForgetRouting drops everything routing remembers about model (its
// mappings from every Hub, its providers' 404s on every router, failed
// lookups of it) and this Embedder's Hub's remembered failures, so that
// the next call asks again.
func (e *Embedder) ForgetRouting(model string) error {
	return e.resolver.state.forget(e.client.Hub(), model)
}

// modelID strips an @revision.
func modelID(model string) string { return strings.SplitN(model, "@", 2)[0] }

func isDirectory(model string) bool {
	st, err := os.Stat(model)
	return err == nil && st.IsDir()
}

// Probe is what one live feature-extraction request to a provider said.
type Probe struct {
	Provider   string        `json:"provider"`
	URL        string        `json:"url"`
	Status     string        `json:"status"` // ok, not-served, loading, unauthorized, rate-limited, error, skipped
	HTTPStatus int           `json:"http_status,omitempty"`
	Message    string        `json:"message,omitempty"`
	Dim        int           `json:"dim,omitempty"`
	Estimated  time.Duration `json:"estimated_time,omitempty"`
	RequestID  string        `json:"request_id,omitempty"`
}

// ProbeRouter sends one short text, without retries, to each provider d
// tries for its model (to hf-inference under the Hub id when it tries
// none), and classifies the answers; with the Hub's mapping they tell a
// wrong URL from a stale mapping, a model that is not served or one that
// is loading.
func (e *Embedder) ProbeRouter(ctx context.Context, d Decision) []Probe {
	c := *e.client
	c.Retry = remote.RetryPolicy{MaxAttempts: 1}
	var targets []remote.Target
	for _, st := range d.Providers {
		if st.Use {
			targets = append(targets, remote.Target{Provider: st.Provider, ProviderID: st.ProviderID, Model: modelID(d.Model)})
		}
	}
	if len(targets) == 0 {
		targets = []remote.Target{{Provider: remote.HFInference, ProviderID: modelID(d.Model), Model: modelID(d.Model)}}
	}
	var out []Probe
	for _, t := range targets {
		p := Probe{Provider: t.Provider, URL: c.EmbeddingsURL(t)}
		if e.cfg.offline {
			p.Status, p.Message = "skipped", "offline"
			out = append(out, p)
			continue
		}
		vecs, err := c.Embed(ctx, t, []string{"hybridembed resolve probe"}, remote.Params{}, "mean")
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
		out = append(out, p)
	}
	return out
}

// Diagnose answers "wrong URL, not served, stale, or warming up?" from a
// decision and its probes.
func Diagnose(d Decision, probes []Probe) string {
	_, live := firstUsed(d.Providers) // the Hub says a provider serves it
	var stale []string
	for _, p := range probes {
		switch p.Status {
		case "ok":
			msg := fmt.Sprintf("served: %s answers with %d-dimensional vectors", p.Provider, p.Dim)
			if len(stale) > 0 {
				msg += fmt.Sprintf("; %s answered 404 although the Hub maps it there (a stale mapping)", strings.Join(stale, ", "))
			}
			return msg
		case "not-served":
			stale = append(stale, p.Provider)
			continue
		case "loading":
			return fmt.Sprintf("warming up: %s says the model is loading (about %s); it will be served", p.Provider, p.Estimated.Round(time.Second))
		case "unauthorized":
			return "unauthorized: the router refused the token; set HF_TOKEN to a valid token"
		case "skipped":
			return "offline: only local models are used"
		case "rate-limited":
			return "rate limited: " + p.Provider + " serves it but is throttling this token"
		}
		return "the router could not be reached or failed: " + p.Message
	}
	switch {
	case len(probes) == 0:
		return ""
	case live:
		return "wrong URL: the Hub says " + strings.Join(stale, ", ") + " serves this model (live), but " + probes[0].URL +
			" answers 404; check --router-url / HYBRIDEMBED_ROUTER_URL (want " + remote.DefaultRouterURL + ")"
	}
	return "not served: no provider serves this model through the router, so it runs locally"
}

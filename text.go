package hybridembed

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hybridembed/hybridembed/internal/pooling"
	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/remote"
)

// EmbedTexts embeds texts with model; see [Model.EmbedTexts].
func (e *Embedder) EmbedTexts(ctx context.Context, model string, texts []string) ([]Embedding, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	m, err := e.Model(ctx, model)
	if err != nil {
		return nil, err
	}
	return m.EmbedTexts(ctx, texts)
}

// EmbedTexts embeds texts, through the router or the local engine as the
// routing rules decide (see [Embedder.Resolve]), falling back to the local
// model when the router fails and the model is cached. Results are in input order. A text that cannot
// be embedded (invalid UTF-8) fails alone: its Embedding has no Vector and
// the returned *PartialError names it; the others are valid.
func (m *Model) EmbedTexts(ctx context.Context, texts []string) (out []Embedding, err error) {
	if len(texts) == 0 {
		return nil, nil
	}
	e := m.e
	ctx, end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end(&err)
	dec, err := e.resolver.route(ctx, m, ModalityText)
	if err != nil {
		return nil, err
	}
	out = make([]Embedding, len(texts))
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
	if dec.Backend == BackendRemote {
		got, rerr := m.embedRemote(ctx, dec, valid)
		if rerr == nil {
			for k, i := range idx {
				out[i] = e.remoteEmbedding(m.name, got.vecs[k], got.provider, dec.Revision, got.reason)
			}
			return out, partial(failed, len(texts))
		}
		why, err := e.routerFailure(ctx, m.name, rerr)
		if err != nil {
			return nil, err
		}
		res, dev, err := m.embedLocalTexts(ctx, valid)
		var nc *NotCachedError
		if errors.As(err, &nc) { // the router failed and there is no local copy
			nc.Why = why
			return nil, unavailableError{nc}
		}
		return m.localTexts(texts, idx, failed, res, dev, why+"; fell back to the local model", err)
	}
	res, dev, err := m.embedLocalTexts(ctx, valid)
	var nc *NotCachedError
	if errors.As(err, &nc) && dec.Evidence.Hub != nil {
		nc.Why = dec.Reason
	}
	return m.localTexts(texts, idx, failed, res, dev, dec.Reason, err)
}

// localTexts places the local engine's results for the valid texts (at
// idx) among the invalid ones.
func (m *Model) localTexts(texts []string, idx []int, failed []*InputError, res []local.TextResult, dev ort.Device, reason string, err error) ([]Embedding, error) {
	if err != nil {
		return nil, err
	}
	out := make([]Embedding, len(texts))
	for k, i := range idx {
		if res[k].Err != nil {
			failed = append(failed, &InputError{Index: i, Source: excerpt(texts[i]), Err: res[k].Err})
			continue
		}
		out[i] = m.embedding(res[k].Vector, dev, reason)
		out[i].Tokens = res[k].Tokens
	}
	sort.Slice(failed, func(a, b int) bool { return failed[a].Index < failed[b].Index })
	return out, partial(failed, len(texts))
}

// remoteResult is what the router answered, and through whom.
type remoteResult struct {
	vecs     [][]float32
	provider string
	reason   string
}

// embedRemote tries the decision's providers in order, each under its
// provider id: an auth error stops the chain (never a silent answer from
// elsewhere), and so does a payment error (the account's, for every
// provider); anything else moves to the next provider. A provider that
// answered 404 while a later one answered had a stale mapping: that
// (router, provider, model) is remembered as not served. The cached
// copy's pooling config, if any, says how to pool token states, should a
// provider return them.
func (m *Model) embedRemote(ctx context.Context, dec Decision, texts []string) (remoteResult, error) {
	var pool remote.Pooling
	if m.loc.dir != "" {
		pool = m.e.modelInfo(m.loc.dir).pooling
	}
	truncate := true // as the local tokenizer truncates to the model's max length
	params := remote.Params{Truncate: &truncate}
	id := modelID(m.name)
	fail := &chainError{}
	for _, st := range dec.Providers {
		if !st.Use {
			continue
		}
		t := remote.Target{Provider: st.Provider, ProviderID: st.ProviderID, Model: id}
		vecs, err := m.e.client.Embed(ctx, t, texts, params, pool)
		if err == nil {
			reason := "the Hub maps it to " + st.Provider + " (live)"
			if st.Status != "live" {
				reason = st.Provider + ": " + st.Why
			}
			for _, f := range fail.tried {
				if remote.IsNotServed(f.err) {
					m.e.resolver.markNotServed(f.provider, id, "404 while "+st.Provider+" answered")
				}
			}
			if len(fail.tried) > 0 {
				reason += "; before it, " + fail.summary()
			}
			return remoteResult{vecs: vecs, provider: st.Provider, reason: reason}, nil
		}
		fail.tried = append(fail.tried, providerFailure{st.Provider, m.e.client.EmbeddingsURL(t), err})
		if ctx.Err() != nil || remote.IsAuth(err) || errors.Is(err, remote.ErrPayment) {
			break
		}
	}
	return remoteResult{}, fail
}

// providerFailure is one provider's failure in a chain.
type providerFailure struct {
	provider, url string
	err           error
}

// chainError is the failure of every provider a chain tried; it unwraps
// to the last one's error, for remote.IsAuth and friends.
type chainError struct{ tried []providerFailure }

func (c *chainError) Error() string { return c.summary() }

func (c *chainError) Unwrap() error {
	if len(c.tried) == 0 {
		return nil
	}
	return c.tried[len(c.tried)-1].err
}

// only404 reports a chain in which every provider answered 404.
func (c *chainError) only404() bool {
	for _, f := range c.tried {
		if !remote.IsNotServed(f.err) {
			return false
		}
	}
	return len(c.tried) > 0
}

func (c *chainError) summary() string {
	parts := make([]string, len(c.tried))
	for i, f := range c.tried {
		if remote.IsNotServed(f.err) {
			parts[i] = f.provider + " answered 404 at " + f.url
		} else {
			parts[i] = fmt.Sprintf("%s failed: %v", f.provider, f.err)
		}
	}
	return strings.Join(parts, "; ")
}

// routerFailure says, in one clause, why the router could not embed the
// texts, or returns the error when the call must not fall back to the
// local model: a cancelled call, an auth error, policy remote.
func (e *Embedder) routerFailure(ctx context.Context, model string, rerr error) (string, error) {
	var ce *chainError
	errors.As(rerr, &ce)
	switch {
	case ctx.Err() != nil:
		return "", ctx.Err()
	case remote.IsAuth(rerr):
		return "", fmt.Errorf("model %s: %w", model, rerr)
	case e.cfg.policy == PolicyRemote:
		return "", fmt.Errorf("model %s (policy remote): %w", model, rerr)
	case ce != nil && ce.only404():
		// The Hub says these providers serve it: a 404 from every one
		// says more about the router URL than about the model, so it is
		// not remembered as "not served".
		return "the Hub maps it to a live provider, but the router answered 404 (" + ce.summary() +
			"): a wrong router URL? (not remembered; `hybridembed resolve " + modelID(model) + "` diagnoses it)", nil
	}
	return fmt.Sprintf("the router could not embed it (%v)", rerr), nil
}

func (m *Model) embedLocalTexts(ctx context.Context, texts []string) ([]local.TextResult, ort.Device, error) {
	lm, release, err := m.acquire(ctx)
	if err != nil {
		return nil, "", err
	}
	defer release()
	if !lm.HasText() {
		return nil, "", fmt.Errorf("model %s: %w: it has no text tower", m.name, ErrNoModality)
	}
	dev, err := lm.Provider(false)
	if err != nil {
		return nil, "", m.loadError(ctx, err)
	}
	res, err := lm.EmbedTexts(ctx, texts)
	if err != nil {
		return nil, "", fmt.Errorf("model %s: %w", m.name, err)
	}
	if lm.Normalizes() { // the model's own Normalize module, as the router applies it
		for _, r := range res {
			pooling.Normalize(r.Vector)
		}
	}
	return res, dev, nil
}

func (e *Embedder) remoteEmbedding(model string, vec []float32, provider, revision, reason string) Embedding {
	emb := Embedding{Vector: vec, Model: model, Revision: revision, Backend: BackendRemote, Provider: provider, Dim: len(vec), Reason: reason}
	if e.cfg.normalize {
		pooling.Normalize(vec)
	}
	emb.Normalized = isUnit(vec)
	return emb
}

// embedding is a local vector, stamped with the model's identity.
func (m *Model) embedding(vec []float32, dev ort.Device, reason string) Embedding {
	emb := Embedding{Vector: vec, Model: m.name, Revision: m.info.Revision, Variant: m.info.Variant, Digest: m.info.Digest,
		Backend: BackendLocal, Device: string(dev), Dim: len(vec), Reason: reason}
	if m.e.cfg.normalize {
		pooling.Normalize(vec)
	}
	emb.Normalized = isUnit(vec)
	return emb
}

// CountTokens is the number of tokens texts make with the model's own
// tokenizer (special tokens included, after truncation to its maximum),
// which is what OpenAI's usage field reports. It needs the model's files
// on this machine: ErrNotCached otherwise.
func (m *Model) CountTokens(ctx context.Context, texts []string) (n int, err error) {
	_, lm, done, err := m.holdLocal(ctx)
	if err != nil {
		return 0, err
	}
	defer done(&err)
	counts, err := lm.CountTokens(texts)
	if err != nil {
		return 0, fmt.Errorf("model %s: %w", m.name, err)
	}
	for _, c := range counts {
		n += c
	}
	return n, nil
}

package hybridembed

import (
	"context"
	"errors"
	"fmt"
	"sort"
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
// [Resolver] decides (falling back to the local model when the router fails
// and the model is cached). Results are in input order. A text that cannot
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
		vecs, rerr := m.embedRemote(ctx, valid)
		if rerr == nil {
			for k, i := range idx {
				out[i] = e.remoteEmbedding(m.name, vecs[k], dec.Reason)
			}
			return out, partial(failed, len(texts))
		}
		if dec.Reason, err = e.fallbackReason(ctx, m.name, rerr); err != nil {
			return nil, err
		}
	}
	res, dev, err := m.embedLocalTexts(ctx, valid)
	var nc *NotCachedError
	switch {
	case errors.As(err, &nc) && dec.Backend == BackendRemote: // the router failed and there is no local copy
		nc.Why = dec.Reason
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, nc)
	case errors.As(err, &nc) && dec.Evidence.Hub != nil:
		nc.Why = dec.Reason
		return nil, nc
	case err != nil:
		return nil, err
	}
	for k, i := range idx {
		if res[k].Err != nil {
			failed = append(failed, &InputError{Index: i, Source: excerpt(texts[i]), Err: res[k].Err})
			continue
		}
		out[i] = m.embedding(res[k].Vector, dev, dec.Reason)
		out[i].Tokens = res[k].Tokens
	}
	sort.Slice(failed, func(a, b int) bool { return failed[a].Index < failed[b].Index })
	return out, partial(failed, len(texts))
}

// embedRemote calls the router's feature-extraction pipeline. The cached
// copy's pooling config, if any, says how to pool token states, should the
// router return them.
func (m *Model) embedRemote(ctx context.Context, texts []string) ([][]float32, error) {
	var pooling remote.Pooling
	if m.loc.dir != "" {
		pooling = m.e.modelInfo(m.loc.dir).pooling
	}
	truncate := true // as the local tokenizer truncates to the model's max length
	return m.e.client.FeatureExtraction(ctx, modelID(m.name), texts, remote.Params{Truncate: &truncate}, pooling)
}

// fallbackReason decides whether a router failure may fall back to the local
// model: not for a cancelled call, an auth error or policy remote; a 404
// also marks the model not served for a while.
func (e *Embedder) fallbackReason(ctx context.Context, model string, rerr error) (string, error) {
	switch {
	case ctx.Err() != nil:
		return "", ctx.Err()
	case remote.IsAuth(rerr):
		return "", fmt.Errorf("model %s: %w", model, rerr)
	case e.cfg.policy == PolicyRemote:
		return "", fmt.Errorf("model %s (policy remote): %w", model, rerr)
	case remote.IsNotServed(rerr):
		e.resolver.markNotServed(modelID(model), "404 Not Found")
		return "the router answered 404 (not served); embedded with the local model", nil
	}
	return fmt.Sprintf("the router failed (%v); fell back to the local model", rerr), nil
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

func (e *Embedder) remoteEmbedding(model string, vec []float32, reason string) Embedding {
	emb := Embedding{Vector: vec, Model: model, Backend: BackendRemote, Dim: len(vec), Reason: reason}
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

package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/pooling"
)

// input is one thing to embed: a text, or an encoded image.
type input struct {
	text    string
	image   []byte
	isImage bool
}

// result is the vectors for a request's inputs, in order.
type result struct {
	vectors [][]float32
	backend string // "local", "remote", or both joined by ","
	// provider is the inference providers that embedded remote vectors,
	// joined by "," ("" when every vector is local).
	provider string
	tokens   int // by the model's tokenizer; 0 when it is not on this machine
}

// embed runs one request's inputs through the model (texts in one call,
// images in another, so the engine batches them with other requests'),
// after admitting them.
func (s *Server) embed(ctx context.Context, sv *served, inputs []input, normalize, countTokens bool) (result, error) {
	release, err := s.admit(sv, len(inputs))
	if err != nil {
		return result{}, err
	}
	defer release()
	var texts []string
	var images []hybridembed.Image
	var textAt, imageAt []int
	for i, in := range inputs {
		if in.isImage {
			images = append(images, hybridembed.ImageReader(fmt.Sprintf("input[%d]", i), bytes.NewReader(in.image)))
			imageAt = append(imageAt, i)
		} else {
			texts = append(texts, in.text)
			textAt = append(textAt, i)
		}
	}
	res := result{vectors: make([][]float32, len(inputs))}
	backends, providers := map[string]bool{}, map[string]bool{}
	place := func(embs []hybridembed.Embedding, at []int) {
		for j, e := range embs {
			v := e.Vector
			if normalize && !e.Normalized {
				pooling.Normalize(v)
			}
			res.vectors[at[j]] = v
			backends[string(e.Backend)] = true
			if e.Provider != "" {
				providers[e.Provider] = true
			}
			s.m.embeddings.WithLabelValues(sv.name, string(e.Backend)).Inc()
		}
	}
	if len(texts) > 0 {
		embs, err := sv.model.EmbedTexts(ctx, texts)
		if err != nil {
			return result{}, renumber(err, textAt)
		}
		place(embs, textAt)
		if countTokens {
			// Local vectors carry their token counts; texts the router
			// embedded are counted with the local tokenizer when there is
			// one (a model served only by the router has none: its usage is
			// 0, see the README).
			var remoteTexts []string
			for j, e := range embs {
				res.tokens += e.Tokens
				if e.Backend == hybridembed.BackendRemote {
					remoteTexts = append(remoteTexts, texts[j])
				}
			}
			if len(remoteTexts) > 0 {
				if n, err := sv.model.CountTokens(ctx, remoteTexts); err == nil {
					res.tokens += n
				}
			}
		}
	}
	if len(images) > 0 {
		embs, err := sv.model.EmbedImages(ctx, images)
		if err != nil {
			return result{}, renumber(err, imageAt)
		}
		place(embs, imageAt)
	}
	res.backend, res.provider = joinSorted(backends), joinSorted(providers)
	return res, nil
}

func joinSorted(set map[string]bool) string {
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// renumber makes a failed input's index the request's, not the call's.
func renumber(err error, at []int) error {
	pe, ok := err.(*hybridembed.PartialError)
	if !ok {
		return err
	}
	out := &hybridembed.PartialError{Total: pe.Total}
	for _, f := range pe.Failed {
		g := *f
		if f.Index >= 0 && f.Index < len(at) {
			g.Index = at[f.Index]
		}
		out.Failed = append(out.Failed, &g)
	}
	return out
}

// imageFromURI decodes a data URI. Other URLs are refused: the server
// never fetches anything a client names.
func imageFromURI(param, uri string) ([]byte, error) {
	lower := strings.ToLower(uri)
	switch {
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		return nil, badRequest(param, "%s: image URLs are not fetched by this server; send the image inline as a data URI (data:image/jpeg;base64,...)", param)
	case !strings.HasPrefix(lower, "data:"):
		return nil, badRequest(param, "%s: an image must be a data URI (data:image/jpeg;base64,...)", param)
	}
	meta, data, ok := strings.Cut(uri[len("data:"):], ",")
	if !ok || !strings.HasSuffix(strings.ToLower(meta), ";base64") {
		return nil, badRequest(param, "%s: the data URI is not base64 (want data:image/...;base64,...)", param)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(data))
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(strings.TrimSpace(data)); err != nil {
			return nil, badRequest(param, "%s: the data URI's base64 is invalid: %v", param, err)
		}
	}
	if len(b) == 0 {
		return nil, badRequest(param, "%s: the image is empty", param)
	}
	return b, nil
}

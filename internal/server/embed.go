package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/pooling"
	"github.com/hybridembed/hybridembed/local/imageprep"
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
	var images [][]byte
	var textAt, imageAt []int
	for i, in := range inputs {
		if in.isImage {
			images = append(images, in.image)
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
		embs, err := s.embedImages(ctx, sv, images, imageAt)
		if err != nil {
			return result{}, err
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

// embedImages embeds encoded images, each once the memory budget has room
// for its decode (by the pixels its header declares), so that neither
// their number nor their size in bytes decides what decoding may hold.
// The images run as separate calls, at once, and the engine batches them
// with every other request's. at gives each image's index in the request,
// for errors.
func (s *Server) embedImages(ctx context.Context, sv *served, images [][]byte, at []int) ([]hybridembed.Embedding, error) {
	out := make([]hybridembed.Embedding, len(images))
	failed := make([]error, len(images)) // the image's own error
	var stop error                       // the call's (cancelled, shut down, no vision tower)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k, data := range images {
		cost, err := s.decodeCost(data)
		if err != nil {
			failed[k] = err
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.m.decodeWaiting.Inc()
			err := s.mem.acquireDecode(ctx, cost)
			s.m.decodeWaiting.Dec()
			if err == nil {
				var embs []hybridembed.Embedding
				embs, err = sv.model.EmbedImages(ctx, []hybridembed.Image{hybridembed.ImageBytes(fmt.Sprintf("input[%d]", at[k]), data)})
				s.mem.releaseDecode(cost)
				if err == nil {
					out[k] = embs[0]
					return
				}
			}
			var pe *hybridembed.PartialError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.As(err, &pe) && len(pe.Failed) == 1:
				failed[k] = pe.Failed[0].Err
			case stop == nil:
				stop = err
			}
		}()
	}
	wg.Wait()
	if stop != nil {
		return nil, stop
	}
	pe := &hybridembed.PartialError{Total: len(images)}
	for k, err := range failed {
		if err != nil {
			pe.Failed = append(pe.Failed, &hybridembed.InputError{Index: at[k], Source: fmt.Sprintf("input[%d]", at[k]), Err: err})
		}
	}
	if len(pe.Failed) > 0 {
		return nil, pe
	}
	return out, nil
}

// decodeCost reads an image's header: what decoding it will hold of the
// memory budget, or the error that refuses it (over MaxPixels). A header
// that cannot be read costs nothing: the decoder refuses it, with its
// own words, before it allocates any pixel.
func (s *Server) decodeCost(data []byte) (int64, error) {
	_, cfg, err := imageprep.Config(data)
	if err != nil {
		return 0, nil
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > s.cfg.MaxPixels {
		return 0, fmt.Errorf("%w: %dx%d is %d pixels, over the limit of %d pixels this server decodes",
			hybridembed.ErrImageTooLarge, cfg.Width, cfg.Height, px, s.cfg.MaxPixels)
	}
	return decodeBytes(cfg), nil
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

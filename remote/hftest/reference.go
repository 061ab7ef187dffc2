package hftest

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"testing"
)

// Reference is a served model's vectors computed outside hybridembed (by
// PyTorch with sentence-transformers' pooling), read from a golden file of
// the form {"texts": [{"text", "input_ids", "embedding", "<pooling>"}]}:
// "embedding" is what the model's pipeline returns, the pooling field the
// same vector before its Normalize module.
type Reference struct {
	Dim       int
	Pipeline  map[string][]float32 // text -> the pipeline's vector
	Raw       map[string][]float32 // text -> pooled, not normalised
	Tokens    map[string]int       // text -> its length in tokens
	Normalize bool                 // the pipeline ends with a Normalize module
}

// LoadReference reads a golden file; pooling names the field with the
// un-normalised vectors ("mean", "cls" or "max").
func LoadReference(path, pooling string) (*Reference, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var g struct {
		Texts []map[string]json.RawMessage `json:"texts"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ref := &Reference{Pipeline: map[string][]float32{}, Raw: map[string][]float32{}, Tokens: map[string]int{}}
	for i, t := range g.Texts {
		var text string
		var ids []int
		var emb, raw []float32
		for _, f := range []struct {
			name string
			dst  any
		}{{"text", &text}, {"input_ids", &ids}, {"embedding", &emb}, {pooling, &raw}} {
			if err := json.Unmarshal(t[f.name], f.dst); err != nil {
				return nil, fmt.Errorf("%s: texts[%d].%s: %w", path, i, f.name, err)
			}
		}
		if ref.Dim == 0 {
			ref.Dim = len(emb)
		}
		if len(emb) != ref.Dim || len(raw) != ref.Dim {
			return nil, fmt.Errorf("%s: texts[%d]: vectors of %d and %d dimensions, want %d", path, i, len(emb), len(raw), ref.Dim)
		}
		ref.Pipeline[text], ref.Raw[text], ref.Tokens[text] = emb, raw, len(ids)
		ref.Normalize = ref.Normalize || isUnitVector(emb) && !isUnitVector(raw)
	}
	return ref, nil
}

// ServeReference serves model from ref, as a sentence-transformers model on
// hf-inference: the pipeline's vectors by default, the un-normalised ones
// for "normalize": false. A text the reference does not hold gets a
// deterministic filler vector of the same width (derived from its hash),
// for tests where only the route matters; compare values only on texts the
// reference holds.
func (s *Server) ServeReference(tb testing.TB, model string, ref *Reference) {
	tb.Helper()
	lookup := func(table map[string][]float32) EmbedFunc {
		return func(_ context.Context, texts []string) ([][]float32, error) {
			out := make([][]float32, len(texts))
			for i, t := range texts {
				if v, ok := table[t]; ok {
					out[i] = append([]float32(nil), v...)
				} else {
					out[i] = filler(t, ref.Dim)
				}
			}
			return out, nil
		}
	}
	s.Serve(model, lookup(ref.Pipeline), ref.Normalize)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.served[model]
	m.raw = lookup(ref.Raw)
	s.served[model] = m
}

// filler is a pseudo-random vector seeded by text.
func filler(text string, dim int) []float32 {
	h := fnv.New64a()
	h.Write([]byte(text))
	x := h.Sum64() | 1
	v := make([]float32, dim)
	for i := range v {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v[i] = float32(int64(x%2001)-1000) / 1000
	}
	return v
}

func isUnitVector(v []float32) bool {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	return math.Abs(ss-1) < 1e-4
}

// Filler is an EmbedFunc of deterministic dim-wide vectors, one per text
// (derived from its hash, like ServeReference's filler): for tests where
// the route matters and a misplaced vector must show.
func Filler(dim int) EmbedFunc {
	return func(_ context.Context, texts []string) ([][]float32, error) {
		out := make([][]float32, len(texts))
		for i, t := range texts {
			out[i] = filler(t, dim)
		}
		return out, nil
	}
}

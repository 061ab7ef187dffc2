package remote

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/hybridembed/hybridembed/internal/pooling"
)

// parseVectors reads a feature-extraction answer for n inputs. Sentence
// models answer one vector per input ([n][dim]; one input may come back as a
// bare [dim]); plain transformers answer token states ([n][tokens][dim]),
// which are pooled as pool says or refused.
func parseVectors(body []byte, n int, pool Pooling) ([][]float32, error) {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	depth, err := nesting(v)
	if err != nil {
		return nil, err
	}
	switch depth {
	case 1: // a bare vector, for a single input
		if n != 1 {
			return nil, fmt.Errorf("%w: one vector for %d inputs", ErrMalformed, n)
		}
		vec, err := floats(v)
		return [][]float32{vec}, err
	case 2:
		rows := v.([]any)
		if len(rows) == n {
			return matrix(rows)
		}
		if n == 1 { // token states of the single input, unwrapped
			tokens, err := matrix(rows)
			if err != nil {
				return nil, err
			}
			vec, err := pooled(tokens, pool)
			return [][]float32{vec}, err
		}
		return nil, fmt.Errorf("%w: %d vectors for %d inputs", ErrMalformed, len(rows), n)
	case 3, 4:
		rows := v.([]any)
		if len(rows) != n {
			return nil, fmt.Errorf("%w: %d results for %d inputs", ErrMalformed, len(rows), n)
		}
		out := make([][]float32, n)
		for i, r := range rows {
			if depth == 4 { // [n][1][tokens][dim]
				inner, ok := r.([]any)
				if !ok || len(inner) != 1 {
					return nil, fmt.Errorf("%w: result %d is not [1][tokens][dim]", ErrMalformed, i)
				}
				r = inner[0]
			}
			states, ok := r.([]any)
			if !ok {
				return nil, fmt.Errorf("%w: result %d is not [tokens][dim]", ErrMalformed, i)
			}
			tokens, err := matrix(states)
			if err != nil {
				return nil, err
			}
			if out[i], err = pooled(tokens, pool); err != nil {
				return nil, err
			}
		}
		// Each input's token states are checked on their own: one model
		// makes one width.
		return out, sameWidth(out)
	}
	return nil, fmt.Errorf("%w: arrays nested %d deep", ErrMalformed, depth)
}

// nesting is the array depth down the first elements, checked to be numbers
// at the bottom.
func nesting(v any) (int, error) {
	d := 0
	for {
		switch x := v.(type) {
		case []any:
			if len(x) == 0 {
				return 0, fmt.Errorf("%w: empty array", ErrMalformed)
			}
			d++
			v = x[0]
		case float64:
			return d, nil
		default:
			return 0, fmt.Errorf("%w: expected arrays of numbers, found %T", ErrMalformed, v)
		}
	}
}

func floats(v any) ([]float32, error) {
	xs, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: expected an array of numbers", ErrMalformed)
	}
	out := make([]float32, len(xs))
	for i, x := range xs {
		f, ok := x.(float64)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > math.MaxFloat32 {
			return nil, fmt.Errorf("%w: element %d is %v, not a finite number", ErrMalformed, i, x)
		}
		out[i] = float32(f)
	}
	return out, nil
}

func matrix(rows []any) ([][]float32, error) {
	out := make([][]float32, len(rows))
	for i, r := range rows {
		var err error
		if out[i], err = floats(r); err != nil {
			return nil, err
		}
	}
	return out, sameWidth(out)
}

// pooled reduces token states to one vector, with the arithmetic the
// local engine uses (every token a server returns is a real one).
func pooled(tokens [][]float32, pool Pooling) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%w: no token states", ErrMalformed)
	}
	if pool == "" {
		return nil, fmt.Errorf("the router returned token-level states ([tokens][dim]), not sentence vectors, and no pooling is configured for this model")
	}
	dim := len(tokens[0])
	flat := make([]float32, 0, len(tokens)*dim)
	mask := make([]int64, len(tokens))
	for i, t := range tokens {
		if len(t) != dim {
			return nil, fmt.Errorf("%w: token %d has %d dimensions, token 0 has %d", ErrMalformed, i, len(t), dim)
		}
		flat = append(flat, t...)
		mask[i] = 1
	}
	out, err := pooling.Pool(flat, mask, 1, len(tokens), dim, []string{string(pool)})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// parseEmbeddingsList reads an OpenAI-shaped embeddings answer for n
// inputs, {"data": [{"embedding": [...], "index": i}, ...]}, placing each
// vector by its index (providers need not answer in input order). Items
// without an index are read in list order, but only when none has one.
func parseEmbeddingsList(body []byte, n int) ([][]float32, error) {
	var resp struct {
		Data *[]struct {
			Embedding json.RawMessage `json:"embedding"`
			Index     *int            `json:"index"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if resp.Data == nil {
		return nil, fmt.Errorf("%w: no \"data\" list", ErrMalformed)
	}
	data := *resp.Data
	if len(data) != n {
		return nil, fmt.Errorf("%w: %d embeddings for %d inputs", ErrMalformed, len(data), n)
	}
	out := make([][]float32, n)
	indexed := n > 0 && data[0].Index != nil
	for i, d := range data {
		at := i
		switch {
		case (d.Index != nil) != indexed:
			return nil, fmt.Errorf("%w: data[%d] has an index and data[0] does not, or the reverse", ErrMalformed, i)
		case indexed:
			at = *d.Index
		}
		if at < 0 || at >= n {
			return nil, fmt.Errorf("%w: data[%d].index is %d, outside 0..%d", ErrMalformed, i, at, n-1)
		}
		if out[at] != nil {
			return nil, fmt.Errorf("%w: two embeddings for index %d", ErrMalformed, at)
		}
		var v any
		if err := json.Unmarshal(d.Embedding, &v); err != nil || v == nil {
			return nil, fmt.Errorf("%w: data[%d].embedding is not a list of numbers", ErrMalformed, i)
		}
		vec, err := floats(v)
		if err != nil {
			return nil, fmt.Errorf("data[%d].embedding: %w", i, err)
		}
		if len(vec) == 0 {
			return nil, fmt.Errorf("%w: data[%d].embedding is empty", ErrMalformed, i)
		}
		out[at] = vec
	}
	return out, sameWidth(out)
}

// parseMapping reads a model's inferenceProviderMapping in the order the
// Hub wrote it (the account's preference order, which provider "auto"
// follows): the per-model endpoint's object keyed by provider, or the
// listing endpoint's list of entries with a "provider" field. A provider
// named twice keeps its first place and its last value, as a JSON object
// decoder would keep the value.
func parseMapping(raw []byte) ([]MappingEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: inferenceProviderMapping: %v", ErrMalformed, err)
	}
	var out []MappingEntry
	add := func(e MappingEntry) {
		for i := range out {
			if out[i].Provider == e.Provider {
				out[i] = e
				return
			}
		}
		out = append(out, e)
	}
	switch tok {
	case json.Delim('{'):
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("%w: inferenceProviderMapping: %v", ErrMalformed, err)
			}
			var e MappingEntry
			if err := dec.Decode(&e); err != nil {
				return nil, fmt.Errorf("%w: inferenceProviderMapping[%q]: %v", ErrMalformed, key, err)
			}
			e.Provider = key.(string) // object keys are always strings
			if e.Provider == "" {
				return nil, fmt.Errorf("%w: inferenceProviderMapping has an entry with no provider name", ErrMalformed)
			}
			add(e)
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			var e MappingEntry
			if err := dec.Decode(&e); err != nil {
				return nil, fmt.Errorf("%w: inferenceProviderMapping[%d]: %v", ErrMalformed, i, err)
			}
			if e.Provider == "" {
				return nil, fmt.Errorf("%w: inferenceProviderMapping[%d] has no provider name", ErrMalformed, i)
			}
			add(e)
		}
	default:
		return nil, fmt.Errorf("%w: inferenceProviderMapping is neither an object nor a list", ErrMalformed)
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return nil, fmt.Errorf("%w: inferenceProviderMapping: %v", ErrMalformed, err)
	}
	return out, nil
}

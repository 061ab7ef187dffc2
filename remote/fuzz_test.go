package remote

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// fuzzPoolings are the poolings a router answer of token states may be
// reduced with ("" refuses them).
var fuzzPoolings = []Pooling{"", "mean", "cls", "max", "mean_sqrt_len", "lasttoken", "weightedmean"}

// FuzzParseVectors parses feature-extraction answers for 1..5 inputs:
// sentence vectors ([n][dim], or a bare [dim] for one input), token states
// ([tokens][dim] for one, [n][tokens][dim], [n][1][tokens][dim]) pooled
// as asked, and anything else a router or a proxy might send. It must not
// panic; an error is ErrMalformed or the refusal of token states without
// a pooling; an answer is n vectors of one non-zero width, every number
// finite.
func FuzzParseVectors(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, n, pool uint8) {
		inputs := int(n%5) + 1
		p := fuzzPoolings[int(pool)%len(fuzzPoolings)]
		vecs, err := parseVectors(body, inputs, p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !(p == "" && strings.Contains(err.Error(), "no pooling is configured")) {
				t.Fatalf("an error that is not ErrMalformed: %v", err)
			}
			return
		}
		if len(vecs) != inputs {
			t.Fatalf("%d vectors for %d inputs", len(vecs), inputs)
		}
		for i, v := range vecs {
			if len(v) == 0 || len(v) != len(vecs[0]) {
				t.Fatalf("vector %d has %d dimensions, vector 0 has %d", i, len(v), len(vecs[0]))
			}
			for j, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("vector %d element %d is %v (pooling %q)", i, j, x, p)
				}
			}
		}
	})
}

// FuzzParseEmbeddingsList parses OpenAI-shaped embeddings answers (the
// providers' routes) for 1..5 inputs: n vectors of one non-zero width,
// every number finite, or ErrMalformed; never a panic.
func FuzzParseEmbeddingsList(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, n uint8) {
		inputs := int(n%5) + 1
		vecs, err := parseEmbeddingsList(body, inputs)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("an error that is not ErrMalformed: %v", err)
			}
			return
		}
		if len(vecs) != inputs {
			t.Fatalf("%d vectors for %d inputs", len(vecs), inputs)
		}
		for i, v := range vecs {
			if len(v) == 0 || len(v) != len(vecs[0]) {
				t.Fatalf("vector %d has %d dimensions, vector 0 has %d", i, len(v), len(vecs[0]))
			}
			for j, x := range v {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatalf("vector %d element %d is %v", i, j, x)
				}
			}
		}
	})
}

// FuzzParseMapping parses a model's inferenceProviderMapping (an object
// keyed by provider, or a list of entries): each provider named once and
// by a name, or ErrMalformed; never a panic.
func FuzzParseMapping(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw []byte) {
		entries, err := parseMapping(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("an error that is not ErrMalformed: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for i, e := range entries {
			if e.Provider == "" || seen[e.Provider] {
				t.Fatalf("entry %d: provider %q (seen before: %v) in %s", i, e.Provider, seen[e.Provider], raw)
			}
			seen[e.Provider] = true
		}
	})
}

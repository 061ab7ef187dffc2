package tokenize

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
)

// TestBPEHeapMatchesScan: the heap merge that long words take gives the
// ids of the scanning merge, on random texts over the Gemma fixture's
// vocabulary (no pre-tokenizer: a whole text is one word).
func TestBPEHeapMatchesScan(t *testing.T) {
	data, err := os.ReadFile(fixtures.Fixture("models", "tiny-siglip2", "tokenizer.json"))
	require.NoError(t, err)
	tok, err := Parse(data)
	require.NoError(t, err)
	m := tok.model.(*bpe)
	words := []string{"a▁photo▁of▁a▁cat", "▁the▁", "dog", "ß", "日本", "▁", "sunset▁over▁the▁ocean", "zz", "é"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var s string
		for n := r.IntN(60) + 1; n > 0; n-- {
			s += words[r.IntN(len(words))]
		}
		sym := m.symbols(s)
		scan := m.mergeScan(append([]int(nil), sym...))
		heap := m.mergeHeap(append([]int(nil), sym...))
		require.Equal(t, scan, heap, "%q", s)
	}
}

// TestParseRefusesDeepNesting: a hostile tokenizer.json nested a million
// deep is an error, not a stack overflow.
func TestParseRefusesDeepNesting(t *testing.T) {
	deep := make([]byte, 0, 2_000_020)
	deep = append(deep, `{"model":`...)
	for range 1_000_000 {
		deep = append(deep, '[')
	}
	_, err := Parse(deep)
	require.ErrorContains(t, err, "nested more than")
	ok := []byte(`{"s": "[[[[{{{{\"", "model": {"type": "WordLevel", "vocab": {"a": 0}}}`)
	_, err = Parse(ok)
	require.NoError(t, err, "brackets in strings do not count")
}

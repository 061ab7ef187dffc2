package tokenize_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/tokenize"
)

// cutTokenizers are the tokenizers the cut is checked on, with their
// reference texts: CLIP's and BERT's goldens (ids from the reference
// tokenizers), the Unigram, byte-level BPE and Precompiled fixtures, and
// the test models'.
func cutTokenizers(t *testing.T) map[string]struct {
	dir   string
	texts []string
} {
	out := map[string]struct {
		dir   string
		texts []string
	}{}
	add := func(name, dir, golden string) {
		var texts []string
		for _, c := range readGolden(t, filepath.Join(dir, golden)) {
			texts = append(texts, c.Text)
		}
		out[name] = struct {
			dir   string
			texts []string
		}{dir, texts}
	}
	for _, name := range []string{"clip-tokenizer", "bert-tokenizer"} {
		add(name, fixtures.Golden(t, name), "golden_tokens.jsonl")
	}
	for _, name := range []string{"unigram", "bytelevel", "precompiled"} {
		add(name, fixtures.Fixture("tokenizers", name), "reference_ids.jsonl")
	}
	for _, name := range []string{"tiny-clip", "tiny-st"} {
		out[name] = struct {
			dir   string
			texts []string
		}{fixtures.Fixture("models", name), out["clip-tokenizer"].texts}
	}
	return out
}

// TestCutKeepsTokens: cutting a text before tokenizing it never changes
// its tokens. Every tokenizer here allows the cut; each is made to try it
// at one byte a token, so that it cuts even short texts, at every maximum
// length from 1 to 40, and must give exactly the ids of the whole text
// tokenized and then truncated: over the goldens' own texts (which also
// still match the reference ids, see TestGoldenTokenizers), and over
// random texts built to cross every kind of boundary (runs of spaces,
// tabs and newlines, punctuation, contractions, digits, accents and
// combining marks, CJK, emoji, special tokens).
func TestCutKeepsTokens(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	parts := []string{"a", "photo", "of", "the", "cat's", "don't", "we've", "x", " ", "  ", "   ", "\t", "\n", "\r\n", ".", ",", "!?", "(", ")",
		"-", "'", "\"", "12", "3.14", "1234567", "naïve", "café", "e\u0301", "Ünïcödé", "日本語", "中文", "Привет", "🐈", "👍🏽", "<|endoftext|>",
		"[CLS]", "##ing", "▁", "Ｈｅｌｌｏ", "ﬁ", "①", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa", "supercalifragilistic", "\u00a0", "\u3000", "$100,000.00"}
	random := func() string {
		var b strings.Builder
		for range 1 + rng.IntN(40) {
			b.WriteString(parts[rng.IntN(len(parts))])
			if rng.IntN(3) > 0 {
				b.WriteByte(' ')
			}
		}
		return b.String()
	}
	for name, tc := range cutTokenizers(t) {
		t.Run(name, func(t *testing.T) {
			texts := append([]string{}, tc.texts...)
			texts = append(texts, strings.Join(tc.texts, " "), strings.Join(tc.texts, "  \n "),
				"a"+strings.Repeat(" ", 500)+"b", strings.Repeat("  x", 300), strings.Repeat("word ", 400)+strings.Repeat(" ", 2000))
			for range 300 {
				texts = append(texts, random())
			}
			cuts, checked := 0, 0
			for _, maxLength := range []int{1, 2, 3, 4, 5, 7, 8, 13, 16, 21, 40} {
				tok, err := tokenize.Load(tc.dir, tokenize.Options{MaxLength: maxLength})
				require.NoError(t, err)
				require.True(t, tokenize.Cuts(tok), "%s can be cut", name)
				whole := tokenize.WithoutCut(tok)
				cut := tokenize.WithCutAt(tok, 1)
				for _, text := range texts {
					want, err := whole.Encode(text)
					require.NoError(t, err)
					got, err := cut.Encode(text)
					require.NoError(t, err)
					if !assert.Equal(t, want.IDs, got.IDs, "max length %d, text %q", maxLength, text) {
						return
					}
					assert.Equal(t, want.TypeIDs, got.TypeIDs)
					checked++
					if len(text) > maxLength && strings.Contains(text, " ") {
						cuts++
					}
				}
			}
			t.Logf("%d encodings equal to the whole text's (%d of texts long enough to be cut)", checked, cuts)
		})
	}
}

// TestCutLongText: a megabyte of text gives the tokens of its start, as
// the whole text does, at the tokenizers' real limits and first cut.
func TestCutLongText(t *testing.T) {
	var b strings.Builder
	rng := rand.New(rand.NewPCG(3, 5))
	words := []string{"a", "photo", "of", "the", "cat", "sitting", "on", "mat", "naïve", "café", "3.14", "don't", "!", "日本語"}
	for b.Len() < 1<<20 {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(' ')
	}
	text := b.String()
	for name, tc := range cutTokenizers(t) {
		t.Run(name, func(t *testing.T) {
			tok, err := tokenize.Load(tc.dir, tokenize.Options{MaxLength: 77})
			require.NoError(t, err)
			want, err := tokenize.WithoutCut(tok).Encode(text)
			require.NoError(t, err)
			got, err := tok.Encode(text)
			require.NoError(t, err)
			assert.Equal(t, want.IDs, got.IDs)
			assert.Len(t, got.IDs, 77)
		})
	}
}

// TestCutRefused: tokenizers whose pieces may cross a space after a
// character are never cut (their texts are tokenized whole, as before).
func TestCutRefused(t *testing.T) {
	base, err := os.ReadFile(fixtures.Fixture("tokenizers", "bytelevel", "tokenizer.json"))
	require.NoError(t, err)
	safe, err := tokenize.Parse(base)
	require.NoError(t, err)
	require.True(t, tokenize.Cuts(safe))
	for _, tc := range []struct {
		name, pre, norm string
		cuts            bool
	}{
		{"no pre-tokenizer", `null`, `null`, false},
		{"byte level without its pattern", `{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}`, `null`, false},
		{"Metaspace without split", `{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":false}`, `null`, false},
		{"Metaspace with split", `{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}`, `null`, true},
		{"Whitespace", `{"type":"Whitespace"}`, `null`, true},
		{"WhitespaceSplit", `{"type":"WhitespaceSplit"}`, `null`, true},
		{"Digits alone", `{"type":"Digits","individual_digits":true}`, `null`, false},
		{"Split on spaces, merged with the previous piece", `{"type":"Split","pattern":{"String":" "},"behavior":"MergedWithPrevious","invert":false}`, `null`, false},
		{"Split on spaces, isolated", `{"type":"Split","pattern":{"String":" "},"behavior":"Isolated","invert":false}`, `null`, true},
		{"Split on digits", `{"type":"Split","pattern":{"Regex":"\\d+"},"behavior":"Isolated","invert":false}`, `null`, false},
		{"Split keeping words and spaces", `{"type":"Split","pattern":{"Regex":"\\w+ "},"behavior":"Removed","invert":true}`, `null`, false},
		{"Split with a lookahead", `{"type":"Split","pattern":{"Regex":"\\w+(?= )"},"behavior":"Removed","invert":true}`, `null`, false},
		{"Split, invert, gaps kept", `{"type":"Split","pattern":{"Regex":"\\w+"},"behavior":"Isolated","invert":true}`, `null`, false},
		{"Replace across a space", `{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}`, `{"type":"Replace","pattern":{"String":"a b"},"content":"ab"}`, false},
		{"Replace of a letter by nothing", `{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}`, `{"type":"Replace","pattern":{"String":"a"},"content":""}`, false},
		{"Replace of runs of spaces", `{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}`, `{"type":"Replace","pattern":{"Regex":" {2,}"},"content":" "}`, true},
		{"Replace of quotes", `{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}`, `{"type":"Replace","pattern":{"String":"''"},"content":"\""}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := strings.Replace(string(base), `"pre_tokenizer":`, `"pre_tokenizer": `+tc.pre+`, "old_pre_tokenizer":`, 1)
			spec = strings.Replace(spec, `"normalizer":`, `"normalizer": `+tc.norm+`, "old_normalizer":`, 1)
			tok, err := tokenize.Parse([]byte(spec))
			require.NoError(t, err)
			assert.Equal(t, tc.cuts, tokenize.Cuts(tok))
		})
	}
}

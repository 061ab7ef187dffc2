package tokenize_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local/tokenize"
)

// spans renders tokens as TEI's /tokenize lists them: text[start:stop],
// or the special token's content.
func spans(text string, toks []tokenize.Token) []string {
	out := make([]string, len(toks))
	for i, tk := range toks {
		switch {
		case tk.Start < 0:
			out[i] = fmt.Sprintf("<%s>", tk.Value)
		default:
			out[i] = fmt.Sprintf("%d:%d %s", tk.Start, tk.End, text[tk.Start:tk.End])
		}
	}
	return out
}

// TestTokensOffsets: ids as Encode gives them, special tokens marked, and
// each token's bytes of the input, as tokenizers' offsets give them: for
// BERT (lowercased, accents stripped, punctuation split, an [UNK]) and
// CLIP (whitespace collapsed, lowercased, byte-level pieces of one
// character sharing its span).
func TestTokensOffsets(t *testing.T) {
	load := func(name string, max int) *tokenize.Tokenizer {
		tok, err := tokenize.Load(fixtures.Golden(t, name), tokenize.Options{MaxLength: max})
		require.NoError(t, err)
		return tok
	}
	bert, clip := load("bert-tokenizer", 128), load("clip-tokenizer", 77)
	for _, c := range []struct {
		tok  *tokenize.Tokenizer
		text string
		want []string
	}{
		{bert, "Hello, world!", []string{"<[CLS]>", "0:5 Hello", "5:6 ,", "7:12 world", "12:13 !", "<[SEP]>"}},
		{bert, "Café déjà vu", []string{"<[CLS]>", "0:5 Café", "6:9 dé", "9:12 jà", "13:15 vu", "<[SEP]>"}},
		{bert, "an embedding", []string{"<[CLS]>", "0:2 an", "3:5 em", "5:8 bed", "8:12 ding", "<[SEP]>"}},
		{clip, "a photo of a cat", []string{"<<|startoftext|>>", "0:1 a", "2:7 photo", "8:10 of", "11:12 a", "13:16 cat", "<<|endoftext|>>"}},
		{clip, "  A  Photo\tOF", []string{"<<|startoftext|>>", "2:3 A", "5:10 Photo", "11:13 OF", "<<|endoftext|>>"}},
	} {
		toks, err := c.tok.Tokens(c.text, true)
		require.NoError(t, err)
		enc, err := c.tok.Encode(c.text)
		require.NoError(t, err)
		ids := make([]int, len(toks))
		for i, tk := range toks {
			ids[i] = tk.ID
		}
		assert.Equal(t, enc.IDs, ids, c.text)
		assert.Equal(t, c.want, spans(c.text, toks), c.text)
		assert.True(t, toks[0].Special)
		assert.True(t, toks[len(toks)-1].Special)
	}

	// Without the special tokens, and never truncated.
	long := strings.Repeat("cat ", 100)
	toks, err := clip.Tokens(long, false)
	require.NoError(t, err)
	assert.Len(t, toks, 100)
	toks, err = clip.Tokens(long, true)
	require.NoError(t, err)
	assert.Len(t, toks, 102)
	enc, err := clip.Encode(long)
	require.NoError(t, err)
	assert.Len(t, enc.IDs, 77, "Encode still truncates")

	// A character split into byte-level pieces: each piece spans it.
	toks, err = clip.Tokens("I ❤ NY", false)
	require.NoError(t, err)
	var heart []string
	for _, tk := range toks {
		if tk.Start == 2 {
			heart = append(heart, "I ❤ NY"[tk.Start:tk.End])
		}
	}
	require.NotEmpty(t, heart)
	for _, h := range heart {
		assert.Equal(t, "❤", h)
	}
}

// TestTokensGolden: on every golden and reference text (CJK, emoji,
// accents, full-width and compatibility forms, ligatures), Tokens gives
// Encode's ids (where Encode does not truncate) and places every token
// that is not special, within the input and in order.
func TestTokensGolden(t *testing.T) {
	for _, c := range []struct{ dir, file string }{
		{fixtures.Golden(t, "clip-tokenizer"), "golden_tokens.jsonl"},
		{fixtures.Golden(t, "bert-tokenizer"), "golden_tokens.jsonl"},
		{fixtures.Fixture("tokenizers", "unigram"), "reference_ids.jsonl"},
		{fixtures.Fixture("tokenizers", "bytelevel"), "reference_ids.jsonl"},
		{fixtures.Fixture("tokenizers", "precompiled"), "reference_ids.jsonl"},
	} {
		tok, err := tokenize.Load(c.dir, tokenize.Options{})
		require.NoError(t, err)
		placed, total := 0, 0
		last := 0
		for _, g := range readGolden(t, filepath.Join(c.dir, c.file)) {
			toks, err := tok.Tokens(g.Text, true)
			require.NoError(t, err)
			last = 0
			ids := make([]int, len(toks))
			for i, tk := range toks {
				ids[i] = tk.ID
				if tk.Special {
					continue
				}
				total++
				assert.GreaterOrEqual(t, tk.Start, 0, "%s: %q: token %d %q not placed", filepath.Base(c.dir), g.Text, i, tk.Value)
				if tk.Start >= 0 {
					placed++
					assert.GreaterOrEqual(t, tk.End, last, "%q: token %d goes back", g.Text, i)
					last = tk.End
					assert.LessOrEqual(t, tk.End, len(g.Text))
					assert.LessOrEqual(t, tk.Start, tk.End)
					if tk.Start == tk.End { // only SentencePiece's "▁" where the text has no space
						assert.Equal(t, "▁", tk.Value)
					}
				}
			}
			if len(toks) <= 77 {
				assert.Equal(t, g.InputIDs, ids, "%s: %q", c.dir, g.Text)
			}
		}
		t.Logf("%s: %d of %d tokens placed", filepath.Base(c.dir), placed, total)
	}
}

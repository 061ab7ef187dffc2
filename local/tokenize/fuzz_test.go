package tokenize

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/hybridembed/hybridembed/internal/fixtures"
)

// wordLevelJSON is a WordLevel tokenizer (the one model kind no fixture
// has): whitespace pre-tokenizer, lowercase, [CLS] $A [SEP], 8 tokens.
const wordLevelJSON = `{
 "normalizer": {"type": "Lowercase"},
 "pre_tokenizer": {"type": "Whitespace"},
 "model": {"type": "WordLevel", "unk_token": "[UNK]",
  "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3, "photo": 4, "of": 5, "cat": 6, ".": 7}},
 "post_processor": {"type": "TemplateProcessing",
  "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
  "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [1], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [2], "tokens": ["[SEP]"]}}},
 "added_tokens": [{"id": 0, "content": "[UNK]", "special": true}, {"id": 1, "content": "[CLS]", "special": true}, {"id": 2, "content": "[SEP]", "special": true}]
}`

type fuzzTokenizer struct {
	name string
	tok  *Tokenizer
	ids  map[int]bool // every id the model and its added tokens know
}

// fuzzTokenizers loads one tokenizer of every model kind we read: BPE
// (CLIP's, with end_of_word_suffix, and GPT-2's byte-level), WordPiece
// (BERT's), Unigram (plain, and with SentencePiece's Precompiled
// normalizer) and WordLevel; the real CLIP and BERT tokenizers too where
// the shared goldens are. Their texts become seeds.
func fuzzTokenizers(f *testing.F) []fuzzTokenizer {
	var out []fuzzTokenizer
	add := func(name string, tok *Tokenizer, err error) {
		if err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		out = append(out, fuzzTokenizer{name: name, tok: tok, ids: knownIDs(tok)})
	}
	seed := func(path string) {
		fh, err := os.Open(path)
		if err != nil {
			f.Fatal(err)
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var c struct{ Text string }
			if json.Unmarshal(sc.Bytes(), &c) == nil {
				f.Add(c.Text, uint8(16))
			}
		}
	}
	for _, dir := range []string{"models/tiny-clip", "models/tiny-st", "tokenizers/bytelevel", "tokenizers/unigram", "tokenizers/precompiled"} {
		tok, err := Load(fixtures.Fixture(filepath.FromSlash(dir)), Options{})
		add(dir, tok, err)
		if ref := fixtures.Fixture(filepath.FromSlash(dir), "reference_ids.jsonl"); fileExists(ref) {
			seed(ref)
		}
	}
	tok, err := Parse([]byte(wordLevelJSON))
	add("word-level", tok, err)
	for _, g := range []struct {
		dir string
		max int
	}{{"clip-tokenizer", 77}, {"bert-tokenizer", 128}} {
		dir, err := fixtures.GoldenPath(g.dir)
		if err != nil {
			f.Logf("without the shared %s: %v", g.dir, err)
			continue
		}
		tok, err := Load(dir, Options{MaxLength: g.max})
		add(g.dir, tok, err)
		seed(filepath.Join(dir, "golden_tokens.jsonl"))
	}
	return out
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// knownIDs is the set of ids a tokenizer may emit: its model's vocabulary
// and its added tokens.
func knownIDs(t *Tokenizer) map[int]bool {
	ids := map[int]bool{}
	switch m := t.model.(type) {
	case *bpe:
		for _, id := range m.vocab {
			ids[id] = true
		}
	case *wordPiece:
		for _, id := range m.vocab {
			ids[id] = true
		}
	case *wordLevel:
		for _, id := range m.vocab {
			ids[id] = true
		}
	case *unigram:
		for id := range m.scores {
			ids[id] = true
		}
	}
	for _, a := range t.added {
		ids[a.ID] = true
	}
	return ids
}

// FuzzEncode encodes text with every tokenizer. Valid UTF-8 must encode
// (invalid UTF-8 must be refused), twice alike (the BPE cache must not
// change an answer), to ids the tokenizer knows, one type id each, no
// longer than its maximum length; and cut to a length of 1..64, it must
// be the untruncated tokens cut on the tokenizer's side, with the
// post-processor's special tokens (CLIP's final <|endoftext|>, BERT's
// [SEP]) still around them.
func FuzzEncode(f *testing.F) {
	toks := fuzzTokenizers(f)
	f.Fuzz(func(t *testing.T, text string, cut uint8) {
		for _, ft := range toks {
			tok := ft.tok
			enc, err := tok.Encode(text)
			if !utf8.ValidString(text) {
				if err == nil {
					t.Fatalf("%s: invalid UTF-8 %q encoded", ft.name, text)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %q: %v", ft.name, text, err)
			}
			again, err := tok.Encode(text)
			if err != nil || !slices.Equal(again.IDs, enc.IDs) {
				t.Fatalf("%s: %q encodes as %v, then as %v (%v)", ft.name, text, enc.IDs, again.IDs, err)
			}
			if len(enc.TypeIDs) != len(enc.IDs) {
				t.Fatalf("%s: %d ids, %d type ids", ft.name, len(enc.IDs), len(enc.TypeIDs))
			}
			for i, id := range enc.IDs {
				if !ft.ids[id] {
					t.Fatalf("%s: %q: id %d at %d is not in the vocabulary (%v)", ft.name, text, id, i, enc.IDs)
				}
			}
			if m := tok.maxLength; m > 0 && len(enc.IDs) > max(m, tok.post.added()) {
				t.Fatalf("%s: %q: %d ids, over the maximum of %d", ft.name, text, len(enc.IDs), m)
			}

			// The same text without truncation or special tokens, then cut.
			plain := *tok
			plain.maxLength, plain.post = 0, noPost{}
			inner, err := plain.Encode(text)
			if err != nil {
				t.Fatal(err)
			}
			short := *tok
			short.maxLength = int(cut%64) + 1
			got, err := short.Encode(text)
			if err != nil {
				t.Fatal(err)
			}
			keep := min(len(inner.IDs), max(short.maxLength-tok.post.added(), 0))
			kept := inner.IDs[:keep]
			if tok.truncLeft {
				kept = inner.IDs[len(inner.IDs)-keep:]
			}
			want, _ := tok.post.process(slices.Clone(kept))
			if !slices.Equal(got.IDs, want) {
				t.Fatalf("%s: %q cut to %d: %v, want %v (the text's tokens %v)", ft.name, text, short.maxLength, got.IDs, want, inner.IDs)
			}
		}
	})
}

package tokenize

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// Tokenizer encodes text as a Hugging Face tokenizer.json describes. It is
// safe for concurrent use.
type Tokenizer struct {
	normalizer normalizer
	pre        preTokenizer
	model      model
	post       postProcessor
	added      []addedToken // longest first
	// addedFirst indexes added by their first byte (Gemma's tokenizer has
	// hundreds), so that looking for one at each position is cheap.
	addedFirst [256][]int
	maxLength  int // 0: no truncation
	truncLeft  bool
	padID      int
	padLeft    bool
	padFixed   int // pad every batch to this length (SigLIP-style), else to the longest

	cut           bool // long texts may be cut before tokenizing (see cut.go)
	bytesPerToken int  // the longest vocabulary entry, for the first cut

	reverse *reverseVocab // id -> vocabulary entry, for Tokens
}

// reverseVocab is filled on first use, by Tokens.
type reverseVocab struct {
	once    sync.Once
	entries map[int]string
}

type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// Options adjusts a tokenizer after loading.
type Options struct {
	// MaxLength caps the encoded length, special tokens included. Zero means
	// the tokenizer's own limit: model_max_length from tokenizer_config.json,
	// else tokenizer.json's truncation.
	MaxLength int
	// Cap bounds the length whatever the files say (a model's position
	// embeddings); zero means no bound.
	Cap int
	// Fixed pads every batch to the maximum length, not to its longest
	// text: SigLIP's text towers read the last position, so the padding
	// is part of every text's input (transformers' padding="max_length").
	// Load fails when the tokenizer has no maximum length.
	Fixed bool
	// PadRight pads on the right whatever tokenizer_config.json's
	// padding_side says, as the towers that pool the last position were
	// trained (big_vision pads SigLIP 2's texts on the right, while
	// transformers' Siglip2Tokenizer declares left).
	PadRight bool
	// Lowercase lowercases the text (as tokenizers' Lowercase does) before
	// the tokenizer.json's own normalizer: SigLIP 2's training-time rule,
	// which transformers' Siglip2Tokenizer adds and the Gemma
	// tokenizer.json the checkpoints ship does not.
	Lowercase bool
}

// Load reads dir/tokenizer.json and, when present, dir/tokenizer_config.json
// (for model_max_length and the pad token).
func Load(dir string, opts Options) (*Tokenizer, error) {
	path := filepath.Join(dir, "tokenizer.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if cfgData, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json")); err == nil {
		if err := t.applyConfig(cfgData); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "tokenizer_config.json"), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if opts.MaxLength > 0 {
		t.maxLength = opts.MaxLength
	}
	if opts.Cap > 0 && (t.maxLength == 0 || t.maxLength > opts.Cap) {
		t.maxLength = opts.Cap
	}
	if opts.Fixed {
		if t.maxLength <= 0 {
			return nil, fmt.Errorf("%s: texts must be padded to a fixed length, and neither the tokenizer nor the model says what it is", dir)
		}
		t.padFixed = t.maxLength
	}
	if opts.PadRight {
		t.padLeft = false
	}
	if opts.Lowercase {
		if t.normalizer == nil {
			t.normalizer = lowercase{}
		} else {
			t.normalizer = normalizerSeq{lowercase{}, t.normalizer}
		}
	}
	return t, nil
}

type fileSpec struct {
	AddedTokens []addedToken `json:"added_tokens"`
	Truncation  *struct {
		MaxLength int    `json:"max_length"`
		Direction string `json:"direction"`
	} `json:"truncation"`
	Padding *struct {
		PadID     int             `json:"pad_id"`
		Direction string          `json:"direction"`
		Strategy  json.RawMessage `json:"strategy"`
	} `json:"padding"`
}

// Parse reads a tokenizer.json document. The document is scanned once in
// place (tidwall/gjson): the model's vocabulary and merges, which are most
// of a large file (Gemma's is 34 MB), become the tokenizer's tables with
// no intermediate copies; the small sections go through encoding/json.
func Parse(data []byte) (*Tokenizer, error) {
	if err := checkDepth(data, maxDepth); err != nil {
		return nil, fmt.Errorf("not a tokenizer.json: %w", err)
	}
	if !gjson.ValidBytes(data) {
		var v any
		err := json.Unmarshal(data, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return nil, fmt.Errorf("not a tokenizer.json: %w", err)
	}
	doc := gjson.ParseBytes(data)
	if !doc.IsObject() {
		return nil, errors.New("not a tokenizer.json: not a JSON object")
	}
	sections := map[string]gjson.Result{}
	doc.ForEach(func(k, v gjson.Result) bool {
		sections[k.Str] = v
		return true
	})
	raw := func(name string) json.RawMessage {
		if v, ok := sections[name]; ok {
			return json.RawMessage(v.Raw)
		}
		return nil
	}
	var f fileSpec
	small := []byte{'{'}
	for _, name := range []string{"added_tokens", "truncation", "padding"} {
		if v, ok := sections[name]; ok {
			if len(small) > 1 {
				small = append(small, ',')
			}
			small = append(append(append(small, '"'), name...), `":`...)
			small = append(small, v.Raw...)
		}
	}
	if err := json.Unmarshal(append(small, '}'), &f); err != nil {
		return nil, fmt.Errorf("not a tokenizer.json: %w", err)
	}
	mv, ok := sections["model"]
	if !ok || mv.Type == gjson.Null {
		return nil, errors.New("tokenizer.json has no model")
	}
	t := &Tokenizer{reverse: &reverseVocab{}}
	var err error
	if t.normalizer, err = parseNormalizer(raw("normalizer")); err != nil {
		return nil, err
	}
	if t.pre, err = parsePreTokenizer(raw("pre_tokenizer")); err != nil {
		return nil, err
	}
	if t.model, err = parseModelResult(mv); err != nil {
		return nil, err
	}
	if t.post, err = parsePostProcessor(raw("post_processor")); err != nil {
		return nil, err
	}
	for _, a := range f.AddedTokens {
		if a.Content != "" {
			t.added = append(t.added, a)
		}
	}
	// Longest first, so that a token that contains another wins.
	sort.SliceStable(t.added, func(i, j int) bool { return len(t.added[i].Content) > len(t.added[j].Content) })
	for k, a := range t.added {
		t.addedFirst[a.Content[0]] = append(t.addedFirst[a.Content[0]], k)
	}
	t.cut = t.cutSafe()
	t.bytesPerToken = 1
	if v, ok := t.model.(interface{ longest() int }); ok {
		t.bytesPerToken = max(v.longest(), 1)
	}
	if f.Truncation != nil {
		t.maxLength = f.Truncation.MaxLength
		t.truncLeft = strings.EqualFold(f.Truncation.Direction, "left")
	}
	if f.Padding != nil {
		t.padID = f.Padding.PadID
		t.padLeft = strings.EqualFold(f.Padding.Direction, "left")
		var fixed struct {
			Fixed int `json:"Fixed"`
		}
		if json.Unmarshal(f.Padding.Strategy, &fixed) == nil {
			t.padFixed = fixed.Fixed
		}
	}
	return t, nil
}

// maxDepth bounds the nesting of a tokenizer.json (a real one nests a
// handful of levels): gjson recurses into what it scans, and a hostile
// file nested a million deep would exhaust the stack.
const maxDepth = 512

// checkDepth refuses JSON nested deeper than limit, outside strings.
func checkDepth(data []byte, limit int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > limit {
				return fmt.Errorf("JSON nested more than %d deep", limit)
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}

// applyConfig reads tokenizer_config.json: model_max_length (ignoring the
// "no limit" sentinel transformers writes, int(1e30)) and the pad token.
func (t *Tokenizer) applyConfig(data []byte) error {
	var c struct {
		ModelMaxLength *float64        `json:"model_max_length"`
		PadToken       json.RawMessage `json:"pad_token"`
		PaddingSide    string          `json:"padding_side"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return err
	}
	if c.ModelMaxLength != nil && *c.ModelMaxLength > 0 && *c.ModelMaxLength < 1e9 {
		t.maxLength = int(*c.ModelMaxLength)
	}
	if !isNull(c.PadToken) {
		// A plain string, or an AddedToken object with "content".
		var name string
		if err := json.Unmarshal(c.PadToken, &name); err != nil {
			var obj struct {
				Content string `json:"content"`
			}
			if err := json.Unmarshal(c.PadToken, &obj); err != nil {
				return fmt.Errorf("pad_token: %w", err)
			}
			name = obj.Content
		}
		if id, ok := t.TokenID(name); ok {
			t.padID = id
		}
	}
	if c.PaddingSide != "" {
		t.padLeft = c.PaddingSide == "left"
	}
	return nil
}

// MaxLength is the longest encoding Encode returns (0: unlimited).
func (t *Tokenizer) MaxLength() int { return t.maxLength }

// PadID is the id batches are padded with.
func (t *Tokenizer) PadID() int { return t.padID }

// TokenID looks a token up among the added tokens and in the vocabulary.
func (t *Tokenizer) TokenID(token string) (int, bool) {
	for _, a := range t.added {
		if a.Content == token {
			return a.ID, true
		}
	}
	return t.model.id(token)
}

// Encoding is one encoded text.
type Encoding struct {
	IDs     []int
	TypeIDs []int
}

// Encode tokenizes text, truncates it to MaxLength (keeping the special
// tokens the post-processor adds, like CLIP's final <|endoftext|>) and adds
// the special tokens. A long text is cut before it is tokenized, where that
// cannot change its tokens (see cut.go), so its cost is that of its first
// MaxLength tokens, not of its length.
func (t *Tokenizer) Encode(text string) (Encoding, error) {
	if !utf8.ValidString(text) {
		return Encoding{}, errors.New("text is not valid UTF-8")
	}
	var ids []int
	var err error
	if t.maxLength > 0 {
		keep := max(t.maxLength-t.post.added(), 0)
		if t.cut && !t.truncLeft {
			ids, err = t.prefixTokens(text, keep)
		} else {
			ids, err = t.tokens(text)
		}
		if err != nil {
			return Encoding{}, err
		}
		if len(ids) > keep {
			if t.truncLeft {
				ids = ids[len(ids)-keep:]
			} else {
				ids = ids[:keep]
			}
		}
	} else if ids, err = t.tokens(text); err != nil {
		return Encoding{}, err
	}
	out, types := t.post.process(ids)
	return Encoding{IDs: out, TypeIDs: types}, nil
}

// tokens is text's ids, before truncation and special tokens.
func (t *Tokenizer) tokens(text string) ([]int, error) {
	var ids []int
	err := t.visit(text, visitor{
		added: func(tok *addedToken, _ *segment) { ids = append(ids, tok.ID) },
		piece: func(p string) { ids = append(ids, t.model.tokenize(p)...) },
	})
	return ids, err
}

// visitor is what visit tells, in the text's order.
type visitor struct {
	// added is an added token: matched in the text itself (seg is the
	// bytes it took), or in a segment's normalized text (seg nil).
	added func(tok *addedToken, seg *segment)
	// piece is a pre-tokenized piece, for the model.
	piece func(text string)
	// done, when set, ends each segment of plain text, after its pieces.
	done func(seg segment)
}

// visit splits text around added tokens, normalizes and pre-tokenizes
// the rest, as tokenizers does, telling v what it finds.
func (t *Tokenizer) visit(text string, v visitor) error {
	for _, seg := range t.splitAdded(text, false) {
		if seg.token != nil {
			v.added(seg.token, &seg)
			continue
		}
		normalized := seg.text
		if t.normalizer != nil {
			var err error
			if normalized, err = t.normalizer.normalize(seg.text); err != nil {
				return err
			}
		}
		for _, inner := range t.splitAdded(normalized, true) {
			if inner.token != nil {
				v.added(inner.token, nil)
				continue
			}
			pieces := []piece{{text: inner.text, first: seg.first && inner.first}}
			if t.pre != nil {
				var err error
				if pieces, err = t.pre.split(pieces[0]); err != nil {
					return err
				}
			}
			for _, p := range pieces {
				v.piece(p.text)
			}
		}
		if v.done != nil {
			v.done(seg)
		}
	}
	return nil
}

type segment struct {
	text    string
	token   *addedToken
	first   bool
	at, end int // the bytes of the text split that it covers
}

// splitAdded cuts text around added tokens, as tokenizers' AddedVocabulary
// does: tokens with normalized=false are found in the raw text, the others
// in the normalized text.
func (t *Tokenizer) splitAdded(text string, normalized bool) []segment {
	var out []segment
	start := 0 // start of the pending plain text
	for i := 0; i < len(text); {
		tok, from, to := t.matchAdded(text, i, normalized)
		if tok == nil {
			_, size := utf8.DecodeRuneInString(text[i:])
			i += size
			continue
		}
		if from > start {
			out = append(out, segment{text: text[start:from], first: start == 0, at: start, end: from})
		}
		out = append(out, segment{token: tok, at: from, end: to})
		start, i = to, to
	}
	if start < len(text) || len(out) == 0 {
		out = append(out, segment{text: text[start:], first: start == 0, at: start, end: len(text)})
	}
	return out
}

// matchAdded reports the added token starting at byte i, and the span it
// consumes (widened over whitespace for lstrip/rstrip).
func (t *Tokenizer) matchAdded(text string, i int, normalized bool) (*addedToken, int, int) {
	for _, k := range t.addedFirst[text[i]] {
		a := &t.added[k]
		if a.Normalized != normalized || !strings.HasPrefix(text[i:], a.Content) {
			continue
		}
		end := i + len(a.Content)
		if a.SingleWord && (isWordBefore(text, i) || isWordAfter(text, end)) {
			continue
		}
		from, to := i, end
		if a.LStrip {
			from = len(strings.TrimRightFunc(text[:i], unicode.IsSpace))
		}
		if a.RStrip {
			to = len(text) - len(strings.TrimLeftFunc(text[end:], unicode.IsSpace))
		}
		return a, from, to
	}
	return nil, 0, 0
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

func isWordBefore(s string, i int) bool {
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return i > 0 && isWordRune(r)
}

func isWordAfter(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return i < len(s) && isWordRune(r)
}

// Batch is a padded batch, row-major, ready to become model inputs.
type Batch struct {
	Rows, Cols    int
	IDs           []int64
	AttentionMask []int64
	TypeIDs       []int64
}

// Pad lays encodings out as one batch padded to the longest, on the side
// the tokenizer pads.
func (t *Tokenizer) Pad(encs []Encoding) Batch {
	cols := t.padFixed
	for _, e := range encs {
		cols = max(cols, len(e.IDs))
	}
	n := len(encs) * cols
	b := Batch{Rows: len(encs), Cols: cols, IDs: make([]int64, n), AttentionMask: make([]int64, n), TypeIDs: make([]int64, n)}
	for i, e := range encs {
		off := i * cols
		if t.padLeft {
			off += cols - len(e.IDs)
		}
		row := b.IDs[i*cols : (i+1)*cols]
		for k := range row {
			row[k] = int64(t.padID)
		}
		for k, id := range e.IDs {
			b.IDs[off+k] = int64(id)
			b.AttentionMask[off+k] = 1
			b.TypeIDs[off+k] = int64(e.TypeIDs[k])
		}
	}
	return b
}

package tokenize

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// piece is a stretch of normalized text on its way to the model. first marks
// the piece that starts the original text (Metaspace's "first" scheme).
type piece struct {
	text  string
	first bool
}

// preTokenizer splits pieces into smaller pieces (and may rewrite them).
type preTokenizer interface {
	split(p piece) ([]piece, error)
}

type preTokenizerSeq []preTokenizer

func (s preTokenizerSeq) split(p piece) ([]piece, error) {
	pieces := []piece{p}
	for _, pt := range s {
		var next []piece
		for _, q := range pieces {
			out, err := pt.split(q)
			if err != nil {
				return nil, err
			}
			next = append(next, out...)
		}
		pieces = next
	}
	return pieces, nil
}

// behavior is tokenizers' SplitDelimiterBehavior.
type behavior int

const (
	removed behavior = iota
	isolated
	mergedWithPrevious
	mergedWithNext
	contiguous
)

func parseBehavior(s string) (behavior, error) {
	switch strings.ToLower(s) {
	case "removed":
		return removed, nil
	case "isolated", "":
		return isolated, nil
	case "merged_with_previous", "mergedwithprevious":
		return mergedWithPrevious, nil
	case "merged_with_next", "mergedwithnext":
		return mergedWithNext, nil
	case "contiguous":
		return contiguous, nil
	}
	return 0, fmt.Errorf("unknown split behavior %q", s)
}

type span struct {
	start, end int
	match      bool
}

// splitSpans applies a delimiter behavior to the given matches, exactly as
// tokenizers' NormalizedString::split does.
func splitSpans(p piece, rs []rune, matches [][2]int, invert bool, b behavior) []piece {
	var spans []span
	last := 0
	for _, m := range matches {
		if m[0] > last {
			spans = append(spans, span{last, m[0], invert})
		}
		spans = append(spans, span{m[0], m[1], !invert})
		last = m[1]
	}
	if last < len(rs) {
		spans = append(spans, span{last, len(rs), invert})
	}

	var out []span
	switch b {
	case removed:
		for _, s := range spans {
			if !s.match {
				out = append(out, s)
			}
		}
	case isolated:
		out = spans
	case mergedWithPrevious:
		prev := false
		for _, s := range spans {
			if s.match && !prev && len(out) > 0 {
				out[len(out)-1].end = s.end
			} else {
				out = append(out, s)
			}
			prev = s.match
		}
	case mergedWithNext:
		prev := false
		for i := len(spans) - 1; i >= 0; i-- {
			s := spans[i]
			if s.match && !prev && len(out) > 0 {
				out[len(out)-1].start = s.start
			} else {
				out = append(out, s)
			}
			prev = s.match
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	case contiguous:
		prev := false
		for _, s := range spans {
			if s.match == prev && len(out) > 0 {
				out[len(out)-1].end = s.end
			} else {
				out = append(out, s)
			}
			prev = s.match
		}
	}
	pieces := make([]piece, 0, len(out))
	for _, s := range out {
		if s.end > s.start {
			pieces = append(pieces, piece{text: string(rs[s.start:s.end]), first: p.first && s.start == 0})
		}
	}
	return pieces
}

// charSplit splits on every character for which is returns true.
func charSplit(p piece, is func(rune) bool, b behavior) []piece {
	rs := []rune(p.text)
	var matches [][2]int
	for i, r := range rs {
		if is(r) {
			matches = append(matches, [2]int{i, i + 1})
		}
	}
	return splitSpans(p, rs, matches, false, b)
}

type splitPre struct {
	pat    *pattern
	invert bool
	b      behavior
}

func (s splitPre) split(p piece) ([]piece, error) {
	rs := []rune(p.text)
	m, err := s.pat.find(rs)
	if err != nil {
		return nil, err
	}
	return splitSpans(p, rs, m, s.invert, s.b), nil
}

type bertPre struct{}

func (bertPre) split(p piece) ([]piece, error) {
	var out []piece
	for _, q := range charSplit(p, unicode.IsSpace, removed) {
		out = append(out, charSplit(q, isPunctuation, isolated)...)
	}
	return out, nil
}

// isPunctuation is tokenizers' is_punc: ASCII punctuation (which includes
// symbols like $ + < = > ^ ` | ~) or Unicode category P.
func isPunctuation(r rune) bool {
	if r < 0x80 {
		return r >= 0x21 && r <= 0x2f || r >= 0x3a && r <= 0x40 || r >= 0x5b && r <= 0x60 || r >= 0x7b && r <= 0x7e
	}
	return unicode.IsPunct(r)
}

type charPre struct {
	is func(rune) bool
	b  behavior
}

func (c charPre) split(p piece) ([]piece, error) { return charSplit(p, c.is, c.b), nil }

type metaspace struct {
	replacement string
	prepend     string // "always", "first" or "never"
	splitAll    bool
}

func (m metaspace) split(p piece) ([]piece, error) {
	s := strings.ReplaceAll(p.text, " ", m.replacement)
	// tokenizers' NormalizedString.prepend is a no-op on an empty string.
	if s != "" && !strings.HasPrefix(s, m.replacement) && (m.prepend == "always" || m.prepend == "first" && p.first) {
		s = m.replacement + s
	}
	q := piece{text: s, first: p.first}
	if !m.splitAll {
		return []piece{q}, nil
	}
	rs := []rune(s)
	rep := []rune(m.replacement)
	var matches [][2]int
	for i := 0; i+len(rep) <= len(rs); i++ {
		if runesHasPrefix(rs[i:], rep) {
			matches = append(matches, [2]int{i, i + len(rep)})
			i += len(rep) - 1
		}
	}
	return splitSpans(q, rs, matches, false, mergedWithNext), nil
}

// gpt2Pattern is what ByteLevel splits on when use_regex is set.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

type byteLevel struct {
	addPrefixSpace bool
	re             *pattern // nil unless use_regex
}

func (bl byteLevel) split(p piece) ([]piece, error) {
	s := p.text
	if bl.addPrefixSpace && !strings.HasPrefix(s, " ") {
		s = " " + s
	}
	pieces := []piece{{text: s, first: p.first}}
	if bl.re != nil {
		rs := []rune(s)
		m, err := bl.re.find(rs)
		if err != nil {
			return nil, err
		}
		pieces = splitSpans(pieces[0], rs, m, false, isolated)
	}
	for i := range pieces {
		pieces[i].text = byteEncode(pieces[i].text)
	}
	return pieces, nil
}

// byteChars is GPT-2's bytes_to_unicode table: printable bytes map to
// themselves, the rest to code points from U+0100 up.
var byteChars = func() [256]rune {
	var t [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xa1 && b <= 0xac || b >= 0xae {
			t[b] = rune(b)
		} else {
			t[b] = rune(256 + n)
			n++
		}
	}
	return t
}()

func byteEncode(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteChars[s[i]])
	}
	return b.String()
}

type preTokenizerSpec struct {
	Type           string            `json:"type"`
	PreTokenizers  []json.RawMessage `json:"pretokenizers"`
	Pattern        patternSpec       `json:"pattern"`
	Behavior       string            `json:"behavior"`
	Invert         bool              `json:"invert"`
	AddPrefixSpace *bool             `json:"add_prefix_space"`
	UseRegex       *bool             `json:"use_regex"`
	Replacement    string            `json:"replacement"`
	PrependScheme  string            `json:"prepend_scheme"`
	Split          *bool             `json:"split"`
	Individual     bool              `json:"individual_digits"`
}

func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s preTokenizerSpec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	switch s.Type {
	case "Sequence":
		var seq preTokenizerSeq
		for _, r := range s.PreTokenizers {
			p, err := parsePreTokenizer(r)
			if err != nil {
				return nil, err
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		return seq, nil
	case "Split":
		p, err := s.Pattern.compile()
		if err != nil {
			return nil, fmt.Errorf("the Split pre-tokenizer: %w", err)
		}
		b, err := parseBehavior(s.Behavior)
		if err != nil {
			return nil, err
		}
		return splitPre{pat: p, invert: s.Invert, b: b}, nil
	case "ByteLevel":
		bl := byteLevel{addPrefixSpace: orTrue(s.AddPrefixSpace)}
		if orTrue(s.UseRegex) {
			p, err := compileRegex(gpt2Pattern)
			if err != nil {
				return nil, err
			}
			bl.re = p
		}
		return bl, nil
	case "BertPreTokenizer":
		return bertPre{}, nil
	case "Whitespace":
		p, err := compileRegex(`\w+|[^\w\s]+`)
		if err != nil {
			return nil, err
		}
		return splitPre{pat: p, invert: true, b: removed}, nil
	case "WhitespaceSplit":
		return charPre{unicode.IsSpace, removed}, nil
	case "Punctuation":
		b, err := parseBehavior(s.Behavior)
		if err != nil {
			return nil, err
		}
		return charPre{isPunctuation, b}, nil
	case "Digits":
		if s.Individual {
			return charPre{unicode.IsNumber, isolated}, nil
		}
		return charPre{unicode.IsNumber, contiguous}, nil
	case "Metaspace":
		m := metaspace{replacement: s.Replacement, prepend: s.PrependScheme, splitAll: orTrue(s.Split)}
		if m.replacement == "" {
			m.replacement = "▁"
		}
		if m.prepend == "" { // older files: add_prefix_space
			m.prepend = "never"
			if orTrue(s.AddPrefixSpace) {
				m.prepend = "always"
			}
		}
		return m, nil
	}
	return nil, fmt.Errorf("pre_tokenizer %q is not supported", s.Type)
}

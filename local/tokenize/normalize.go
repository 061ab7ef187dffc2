package tokenize

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites text before it is split.
type normalizer interface {
	normalize(s string) (string, error)
}

type normalizerSeq []normalizer

func (n normalizerSeq) normalize(s string) (string, error) {
	var err error
	for _, x := range n {
		if s, err = x.normalize(s); err != nil {
			return "", err
		}
	}
	return s, nil
}

type unicodeForm struct{ f norm.Form }

func (u unicodeForm) normalize(s string) (string, error) { return u.f.String(s), nil }

type lowercase struct{}

func (lowercase) normalize(s string) (string, error) { return lower(s), nil }

// lower maps each character as Rust's char::to_lowercase does (tokenizers'
// Lowercase): simple case mapping, except U+0130, whose lowercase is two
// characters, and no context-dependent final sigma.
func lower(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r == 'İ' {
			b.WriteString("i\u0307")
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

type strip struct{ left, right bool }

func (st strip) normalize(s string) (string, error) {
	if st.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if st.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s, nil
}

type stripAccents struct{}

// normalize removes nonspacing marks. Like tokenizers, it does not decompose
// first: a tokenizer.json puts NFD before StripAccents where it wants that.
func (stripAccents) normalize(s string) (string, error) {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, s), nil
}

type replace struct {
	pat     *pattern
	content string
}

func (r replace) normalize(s string) (string, error) { return r.pat.replaceAll(s, r.content) }

type prepend struct{ prefix string }

func (p prepend) normalize(s string) (string, error) {
	if s == "" {
		return s, nil
	}
	return p.prefix + s, nil
}

// bertNormalizer is tokenizers' BertNormalizer. strip_accents null means
// "strip when lowercasing", which is the trap that makes "café" [UNK] in
// tokenizers that read null as false.
type bertNormalizer struct {
	cleanText, chinese, stripAccents, lowercase bool
}

func (b bertNormalizer) normalize(s string) (string, error) {
	if b.cleanText {
		s = strings.Map(func(r rune) rune {
			switch {
			case r == 0 || r == 0xfffd || isControl(r):
				return -1
			case isBertWhitespace(r):
				return ' '
			}
			return r
		}, s)
	}
	if b.chinese {
		var out strings.Builder
		for _, r := range s {
			if isChineseChar(r) {
				out.WriteByte(' ')
				out.WriteRune(r)
				out.WriteByte(' ')
			} else {
				out.WriteRune(r)
			}
		}
		s = out.String()
	}
	if b.stripAccents {
		s, _ = stripAccents{}.normalize(norm.NFD.String(s))
	}
	if b.lowercase {
		s = lower(s)
	}
	return s, nil
}

func isBertWhitespace(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || unicode.IsSpace(r)
}

// isControl is Rust's char::is_other (categories Cc, Cf, Cs, Co, Cn) minus
// the whitespace controls.
func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Cs, unicode.Co) {
		return true
	}
	// Cn: unassigned code points.
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.C)
}

func isChineseChar(r rune) bool {
	switch {
	case r >= 0x4E00 && r <= 0x9FFF,
		r >= 0x3400 && r <= 0x4DBF,
		r >= 0x20000 && r <= 0x2A6DF,
		r >= 0x2A700 && r <= 0x2B73F,
		r >= 0x2B740 && r <= 0x2B81F,
		r >= 0x2B920 && r <= 0x2CEAF,
		r >= 0xF900 && r <= 0xFAFF,
		r >= 0x2F800 && r <= 0x2FA1F:
		return true
	}
	return false
}

type normalizerSpec struct {
	Type         string            `json:"type"`
	Normalizers  []json.RawMessage `json:"normalizers"`
	Pattern      patternSpec       `json:"pattern"`
	Content      string            `json:"content"`
	Prepend      string            `json:"prepend"`
	StripLeft    *bool             `json:"strip_left"`  // tokenizers' Strip
	StripRight   *bool             `json:"strip_right"` // tokenizers' Strip
	Left         bool              `json:"left"`        // the same, in hand-written files
	Right        bool              `json:"right"`
	CleanText    *bool             `json:"clean_text"`
	ChineseChars *bool             `json:"handle_chinese_chars"`
	StripAccents *bool             `json:"strip_accents"`
	Lowercase    *bool             `json:"lowercase"`
	Charsmap     *string           `json:"precompiled_charsmap"`
}

func orTrue(b *bool) bool { return b == nil || *b }

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var s normalizerSpec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	switch s.Type {
	case "Sequence":
		var seq normalizerSeq
		for _, r := range s.Normalizers {
			n, err := parseNormalizer(r)
			if err != nil {
				return nil, err
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		return seq, nil
	case "NFC":
		return unicodeForm{norm.NFC}, nil
	case "NFD":
		return unicodeForm{norm.NFD}, nil
	case "NFKC":
		return unicodeForm{norm.NFKC}, nil
	case "NFKD":
		return unicodeForm{norm.NFKD}, nil
	case "Lowercase":
		return lowercase{}, nil
	case "Strip":
		// tokenizers writes strip_left and strip_right.
		if s.StripLeft != nil || s.StripRight != nil {
			return strip{s.StripLeft != nil && *s.StripLeft, s.StripRight != nil && *s.StripRight}, nil
		}
		return strip{s.Left, s.Right}, nil
	case "StripAccents":
		return stripAccents{}, nil
	case "Replace":
		p, err := s.Pattern.compile()
		if err != nil {
			return nil, fmt.Errorf("the Replace normalizer: %w", err)
		}
		return replace{p, s.Content}, nil
	case "Prepend":
		return prepend{s.Prepend}, nil
	case "Precompiled":
		if s.Charsmap == nil || *s.Charsmap == "" {
			return nil, nil // an empty charsmap normalizes nothing
		}
		return parsePrecompiled(*s.Charsmap)
	case "BertNormalizer":
		lc := orTrue(s.Lowercase)
		sa := lc
		if s.StripAccents != nil {
			sa = *s.StripAccents
		}
		return bertNormalizer{cleanText: orTrue(s.CleanText), chinese: orTrue(s.ChineseChars), stripAccents: sa, lowercase: lc}, nil
	}
	return nil, fmt.Errorf("normalizer %q is not supported", s.Type)
}

func isNull(raw json.RawMessage) bool {
	t := strings.TrimSpace(string(raw))
	return t == "" || t == "null"
}

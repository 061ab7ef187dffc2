package local

import (
	"strings"
	"unicode"
)

// immichClean is immich's clean_text, which its textual encoders apply
// before tokenizing: whitespace runs (Python's str.split) become one space
// and the ends go; with canonicalize (open_clip's tokenizer_kwargs
// {"clean": "canonicalize"}, SigLIP's) ASCII punctuation is dropped and the
// text lowercased as Python's str.lower does.
func immichClean(text string, canonicalize bool) string {
	text = strings.Join(strings.FieldsFunc(text, pyIsSpace), " ")
	if !canonicalize {
		return text
	}
	text = strings.Map(func(r rune) rune {
		if r < 0x80 && isASCIIPunct(byte(r)) {
			return -1
		}
		return r
	}, text)
	return pyLower(text)
}

// isASCIIPunct is Python's string.punctuation.
func isASCIIPunct(c byte) bool {
	return c >= '!' && c <= '/' || c >= ':' && c <= '@' || c >= '[' && c <= '`' || c >= '{' && c <= '~'
}

// pyIsSpace is Python's str.isspace, which str.split splits on: Go's
// unicode.IsSpace and the information separators U+001C..U+001F.
func pyIsSpace(r rune) bool {
	return r >= 0x1c && r <= 0x1f || unicode.IsSpace(r)
}

// pyLower is Python's str.lower: the full lowercase mapping (U+0130 becomes
// "i̇"), and capital sigma becomes final sigma at the end of a word
// (Unicode's Final_Sigma condition).
func pyLower(s string) string {
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range rs {
		switch {
		case r == 'İ':
			b.WriteString("i\u0307")
		case r == 'Σ' && finalSigma(rs, i):
			b.WriteRune('ς')
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma is Unicode's Final_Sigma: a cased letter before (skipping
// case-ignorable characters) and none after.
func finalSigma(rs []rune, i int) bool {
	before := false
	for j := i - 1; j >= 0; j-- {
		if caseIgnorable(rs[j]) {
			continue
		}
		before = cased(rs[j])
		break
	}
	if !before {
		return false
	}
	for j := i + 1; j < len(rs); j++ {
		if caseIgnorable(rs[j]) {
			continue
		}
		return !cased(rs[j])
	}
	return true
}

func cased(r rune) bool {
	return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r)
}

func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', '^', '`', '\u00b7', '\u2018', '\u2019', '\u2024', '\ufe52', '\uff07', '\uff0e', '\u00ad':
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

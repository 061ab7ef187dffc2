package tokenize

import (
	"regexp/syntax"
	"strings"
	"unicode"
)

// Cutting long texts before tokenizing them.
//
// Encode keeps a text's first MaxLength tokens (less the special ones), so
// only a prefix of a long text can matter; tokenizing a megabyte whole
// only to drop all but 77 tokens of it costs hundreds of milliseconds, and
// its regular expressions may time out. Encode tokenizes a prefix instead
// when that is provably the same as tokenizing the whole text and
// truncating:
//
//   - The prefix ends at a cut point: a space (U+0020) after a printable
//     ASCII character. For the tokenizers that allow cutting (cutSafe), the
//     text's pieces never cross a cut point: normalizing keeps such a pair
//     as it is, and the pre-tokenizer splits at it, so the whole text's
//     tokens are the prefix's tokens followed by those of the rest.
//   - The prefix gave at least as many tokens as are kept. If it gave fewer
//     (a text of mostly spaces, say), a longer prefix is tried, up to the
//     whole text, so a text that fits is always tokenized whole.
//
// The first prefix tried is (kept + 1) * cutBytesPerToken bytes, the
// longest vocabulary entry times the tokens kept: a typical text gives a
// token every four or five bytes, so one try is almost always enough. The
// bound only decides how fast, never what the tokens are.

// cutPoint is the end of the longest prefix of text no longer than bound
// bytes that ends at a cut point, or 0 if there is none.
func cutPoint(text string, bound int) int {
	for w := min(bound, len(text)-1); w >= 1; w-- {
		if text[w] == ' ' && text[w-1] > ' ' && text[w-1] < 0x7f {
			return w
		}
	}
	return 0
}

// prefixTokens returns tokens of text of which the first keep are the
// whole text's (all of them when there are no more than keep).
func (t *Tokenizer) prefixTokens(text string, keep int) ([]int, error) {
	for bound := (keep + 1) * t.bytesPerToken; bound < len(text); bound *= 4 {
		w := cutPoint(text, bound)
		if w == 0 {
			continue
		}
		ids, err := t.tokens(text[:w])
		if err != nil || len(ids) >= keep {
			return ids, err
		}
	}
	return t.tokens(text)
}

// cutSafe reports whether the tokenizer's pieces never cross a cut point
// (see above), for every text. It is decided from the components, and is
// false for any it cannot vouch for: those texts are tokenized whole.
func (t *Tokenizer) cutSafe() bool {
	for _, a := range t.added {
		if hasCutPair(a.Content) {
			return false
		}
	}
	return normalizerKeepsCuts(t.normalizer) && preTokenizerSplitsCuts(t.pre)
}

func isPrintableASCII(r rune) bool { return r > ' ' && r < 0x7f }

// hasCutPair reports whether s holds a printable ASCII character followed
// by a space.
func hasCutPair(s string) bool {
	for i := 1; i < len(s); i++ {
		if s[i] == ' ' && isPrintableASCII(rune(s[i-1])) {
			return true
		}
	}
	return false
}

// normalizerKeepsCuts: normalizing leaves a cut point (a printable ASCII
// character, then a space) a cut point, and normalizes what precedes it
// as it would in the whole text.
func normalizerKeepsCuts(n normalizer) bool {
	switch n := n.(type) {
	case nil:
		return true
	case normalizerSeq:
		for _, m := range n {
			if !normalizerKeepsCuts(m) {
				return false
			}
		}
		return true
	case unicodeForm, lowercase, stripAccents, prepend, bertNormalizer:
		// Character by character, or (NFC, NFKC) composing only a
		// starter with the marks after it: an ASCII character stays
		// ASCII and a space stays a space. Prepend acts at the start.
		return true
	case strip:
		// The prefix ends at a non-space, so only its start is stripped,
		// as the whole text's is.
		return true
	case *precompiled:
		return n.keepsASCII()
	case replace:
		return replaceKeepsCuts(n)
	}
	return false
}

// keepsASCII: the charsmap leaves printable ASCII printable ASCII and a
// space a space. Its lookups are per grapheme cluster, and a printable
// ASCII character and a space are never one cluster.
func (p *precompiled) keepsASCII() bool {
	for c := rune(' '); c < 0x7f; c++ {
		out, ok := p.transform(string(c))
		switch {
		case !ok:
		case c == ' ' && out != " ":
			return false
		case c != ' ' && (len(out) != 1 || !isPrintableASCII(rune(out[0]))):
			return false
		}
	}
	return true
}

// replaceKeepsCuts: a literal without spaces, replaced by text that ends
// in printable ASCII (so what ends at a cut point still does), or a
// pattern of nothing but whitespace replaced by text that starts with a
// space (so a cut point's space stays one, as T5's " {2,}" -> " " does).
func replaceKeepsCuts(r replace) bool {
	if lit := r.pat.literal; lit != "" {
		return !strings.ContainsFunc(lit, unicode.IsSpace) && r.content != "" &&
			!strings.ContainsFunc(r.content, unicode.IsSpace) && isPrintableASCII(rune(r.content[len(r.content)-1]))
	}
	re, err := syntax.Parse(r.pat.re.String(), syntax.Perl)
	return err == nil && onlyWhitespace(re) && strings.HasPrefix(r.content, " ")
}

// onlyWhitespace reports whether every string re matches is whitespace.
func onlyWhitespace(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return !strings.ContainsFunc(string(re.Rune), func(r rune) bool { return !unicode.IsSpace(r) }) && re.Flags&syntax.FoldCase == 0
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if !unicode.IsSpace(r) {
					return false
				}
			}
		}
		return len(re.Rune) > 0
	case syntax.OpCapture, syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat, syntax.OpConcat, syntax.OpAlternate:
		for _, sub := range re.Sub {
			if !onlyWhitespace(sub) {
				return false
			}
		}
		return len(re.Sub) > 0
	}
	return false
}

// preTokenizerSplitsCuts: some pre-tokenizer splits at every cut point
// before any other rewrites the spaces away (ByteLevel's byte encoding,
// Metaspace's replacement), and no piece crosses one after.
func preTokenizerSplitsCuts(p preTokenizer) bool {
	seq, ok := p.(preTokenizerSeq)
	if !ok {
		if p == nil {
			return false
		}
		seq = preTokenizerSeq{p}
	}
	for _, q := range seq {
		switch q := q.(type) {
		case bertPre:
			return true
		case charPre:
			if q.b == removed && q.is(' ') {
				return true // WhitespaceSplit
			}
			// Punctuation, Digits: they split further, but not at spaces.
		case metaspace:
			if q.splitAll {
				return true
			}
			return false // spaces are ▁ from here on, one piece
		case byteLevel:
			// GPT-2's pattern never matches a character and the space after
			// it together (' ?\p{L}+' and friends take a space only first;
			// '\s+' only spaces), so it splits at every cut point.
			// Without it, the bytes are encoded and spaces are gone.
			return q.re != nil
		case splitPre:
			if splitSplitsCuts(q) {
				return true
			}
			return false
		default:
			return false
		}
	}
	return false
}

// splitSplitsCuts: a Split pre-tokenizer whose matches never cross a cut
// point and whose pieces start at one: with invert (the matches are the
// pieces, as CLIP's and Whitespace's are) the gaps between them must be
// removed; without it (the matches are the delimiters) every cut point's
// space must start a match, and a match may not be merged into the piece
// before it.
func splitSplitsCuts(s splitPre) bool {
	var re *syntax.Regexp
	if lit := s.pat.literal; lit != "" {
		re = &syntax.Regexp{Op: syntax.OpLiteral, Rune: []rune(lit)}
	} else {
		var err error
		if re, err = syntax.Parse(s.pat.re.String(), syntax.Perl); err != nil {
			return false // lookarounds and the like: not vouched for
		}
	}
	f := facts(re)
	if f.crosses || f.endAnchor {
		return false
	}
	if s.invert {
		return s.b == removed
	}
	if s.b == mergedWithPrevious || s.b == contiguous && f.endsPrintable {
		return false
	}
	// Every cut point's space starts a match: the pattern matches " ".
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return false
	}
	return matchesSpace(prog)
}

// matchesSpace reports whether prog matches the one-character string " "
// in full. (A match at the cut point then exists: leftmost-first may pick
// a longer one, which still starts there.)
func matchesSpace(prog *syntax.Prog) bool {
	// A tiny NFA walk over " ": positions 0 and 1.
	type state struct {
		pc  uint32
		pos int
	}
	seen := map[state]bool{}
	var walk func(pc uint32, pos int) bool
	walk = func(pc uint32, pos int) bool {
		if seen[state{pc, pos}] {
			return false
		}
		seen[state{pc, pos}] = true
		in := prog.Inst[pc]
		switch in.Op {
		case syntax.InstMatch:
			return pos == 1
		case syntax.InstAlt, syntax.InstAltMatch:
			return walk(in.Out, pos) || walk(in.Arg, pos)
		case syntax.InstCapture, syntax.InstNop:
			return walk(in.Out, pos)
		case syntax.InstEmptyWidth:
			return walk(in.Out, pos) // anchors: over-approximate
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			return pos == 0 && in.MatchRune(' ') && walk(in.Out, 1)
		}
		return false
	}
	return walk(uint32(prog.Start), 0)
}

// regexFacts over-approximates what the strings a regular expression
// matches can look like, around a cut point.
type regexFacts struct {
	empty         bool // may match ""
	startsSpace   bool // may start with ' '
	endsPrintable bool // may end with printable ASCII
	crosses       bool // may contain printable ASCII followed by ' '
	endAnchor     bool // uses $ or \z: would match at the end of a prefix, not at its cut point
}

func facts(re *syntax.Regexp) regexFacts {
	switch re.Op {
	case syntax.OpNoMatch:
		return regexFacts{}
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpBeginText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		// \b and \B see the same at a cut point (a non-word space) and at
		// the end of the prefix.
		return regexFacts{empty: true}
	case syntax.OpEndLine, syntax.OpEndText:
		return regexFacts{empty: true, endAnchor: true}
	case syntax.OpLiteral:
		var f regexFacts
		f.empty = len(re.Rune) == 0
		fold := re.Flags&syntax.FoldCase != 0
		for i, r := range re.Rune {
			if i+1 < len(re.Rune) && re.Rune[i+1] == ' ' && printableFold(r, fold) {
				f.crosses = true
			}
		}
		if len(re.Rune) > 0 {
			f.startsSpace = re.Rune[0] == ' '
			f.endsPrintable = printableFold(re.Rune[len(re.Rune)-1], fold)
		}
		return f
	case syntax.OpCharClass:
		var f regexFacts
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if lo <= ' ' && ' ' <= hi {
				f.startsSpace = true
			}
			if lo < 0x7f && hi > ' ' {
				f.endsPrintable = true
			}
		}
		// Folded classes list every case, and the Kelvin sign and the like
		// are not ASCII, so no more to do.
		return f
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return regexFacts{startsSpace: true, endsPrintable: true}
	case syntax.OpCapture:
		return facts(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		f := facts(re.Sub[0])
		repeats := re.Op == syntax.OpStar || re.Op == syntax.OpPlus || re.Op == syntax.OpRepeat && (re.Max == -1 || re.Max > 1)
		if repeats && f.endsPrintable && f.startsSpace {
			f.crosses = true
		}
		if re.Op != syntax.OpPlus && !(re.Op == syntax.OpRepeat && re.Min > 0) {
			f.empty = true
		}
		return f
	case syntax.OpConcat:
		cur := regexFacts{empty: true}
		for _, sub := range re.Sub {
			q := facts(sub)
			cur.crosses = cur.crosses || q.crosses || cur.endsPrintable && q.startsSpace
			cur.endAnchor = cur.endAnchor || q.endAnchor
			cur.startsSpace = cur.startsSpace || cur.empty && q.startsSpace
			cur.endsPrintable = q.endsPrintable || q.empty && cur.endsPrintable
			cur.empty = cur.empty && q.empty
		}
		return cur
	case syntax.OpAlternate:
		var f regexFacts
		for _, sub := range re.Sub {
			q := facts(sub)
			f.empty = f.empty || q.empty
			f.startsSpace = f.startsSpace || q.startsSpace
			f.endsPrintable = f.endsPrintable || q.endsPrintable
			f.crosses = f.crosses || q.crosses
			f.endAnchor = f.endAnchor || q.endAnchor
		}
		return f
	}
	// Anything else: assume the worst.
	return regexFacts{empty: true, startsSpace: true, endsPrintable: true, crosses: true, endAnchor: true}
}

// printableFold reports whether r, or (with fold) a case variant of it, is
// printable ASCII.
func printableFold(r rune, fold bool) bool {
	if isPrintableASCII(r) {
		return true
	}
	if fold {
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if isPrintableASCII(f) {
				return true
			}
		}
	}
	return false
}

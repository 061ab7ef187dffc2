package tokenize

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Token is one token of a text: its id, its vocabulary entry, whether it is
// a special token, and the bytes of the text it stands for.
type Token struct {
	ID    int
	Value string // the vocabulary entry (for a special token, its content)
	// Special is a token the post-processor adds ([CLS], <|endoftext|>)
	// or an added token marked special that the text spelt out.
	Special bool
	// Start and End are the byte offsets in the text the token stands for;
	// -1 for a special token the post-processor added, and for a token
	// this tokenizer's normalization changed past recognition (see
	// [Tokenizer.Tokens]).
	Start, End int
}

// Tokens tokenizes text whole (never truncated) and says what each token
// stands for in it, as tokenizers' Encoding gives ids, tokens, the special
// tokens mask and offsets; addSpecial adds the post-processor's special
// tokens. It is for showing a text's tokens and counting them: Encode is
// what the model is fed.
//
// Offsets are found by matching each token's text (its vocabulary entry
// without the subword markers: ##, </w>, ▁, byte-level characters) to the
// input after folding both as the common normalizers do (compatibility
// decomposition, accents and case dropped), in order: exact wherever the
// tokenizer's normalization only changes case, accents, widths,
// compatibility forms and whitespace, which covers BERT's, CLIP's and the
// SentencePiece models'. A token the match cannot place (an [UNK] between
// placed tokens takes the span between them) gets -1.
func (t *Tokenizer) Tokens(text string, addSpecial bool) ([]Token, error) {
	if !utf8.ValidString(text) {
		return nil, errors.New("text is not valid UTF-8")
	}
	var out, toks []Token // toks: the current segment's
	err := t.visit(text, visitor{
		added: func(tok *addedToken, seg *segment) {
			if seg != nil {
				out = append(out, Token{ID: tok.ID, Value: tok.Content, Special: tok.Special, Start: seg.at, End: seg.end})
				return
			}
			toks = append(toks, Token{ID: tok.ID, Value: tok.Content, Special: tok.Special, Start: -1, End: -1})
		},
		piece: func(p string) {
			for _, id := range t.model.tokenize(p) {
				toks = append(toks, Token{ID: id, Value: t.vocabEntry(id), Start: -1, End: -1})
			}
		},
		done: func(seg segment) {
			t.locate(seg.text, seg.at, toks)
			out, toks = append(out, toks...), nil
		},
	})
	if err != nil {
		return nil, err
	}
	if !addSpecial {
		return out, nil
	}
	ids := make([]int, len(out))
	for i, tok := range out {
		ids[i] = tok.ID
	}
	withSpecial, _ := t.post.process(ids)
	if len(withSpecial) == len(ids) {
		return out, nil
	}
	// The template puts the sequence between its special tokens: find
	// where it starts, and mark what is around it.
	full := make([]Token, 0, len(withSpecial))
	at := templateStart(t.post, len(ids))
	for i, id := range withSpecial {
		if i >= at && i < at+len(out) {
			full = append(full, out[i-at])
			continue
		}
		full = append(full, Token{ID: id, Value: t.vocabEntry(id), Special: true, Start: -1, End: -1})
	}
	return full, nil
}

// templateStart is where the sequence begins in what post makes of n ids.
func templateStart(post postProcessor, n int) int {
	tp, ok := post.(template)
	if !ok {
		return 0
	}
	at := 0
	for _, it := range tp {
		if it.special == nil {
			return at
		}
		at += len(it.special)
	}
	return 0
}

// vocabEntry is the vocabulary entry of id ("" when there is none).
func (t *Tokenizer) vocabEntry(id int) string {
	r := t.reverse
	r.once.Do(func() {
		r.entries = map[int]string{}
		if v, ok := t.model.(interface{ entries() vocab }); ok {
			for s, i := range v.entries() {
				if old, dup := r.entries[i]; !dup || s < old {
					r.entries[i] = s
				}
			}
		}
		for _, a := range t.added {
			r.entries[a.ID] = a.Content
		}
	})
	return r.entries[id]
}

func (v vocab) entries() vocab { return v }

// surface is the text a vocabulary entry spells, in the folded form
// locate matches: subword markers dropped, byte-level characters and
// byte-fallback tokens turned back into their bytes, the metaspace
// character into a space.
func (t *Tokenizer) surface(entry string) string {
	if len(entry) == 6 && strings.HasPrefix(entry, "<0x") && strings.HasSuffix(entry, ">") {
		if b, err := strconv.ParseUint(entry[3:5], 16, 8); err == nil {
			return string([]byte{byte(b)})
		}
	}
	switch m := t.model.(type) {
	case *bpe:
		if m.prefix != "" {
			entry = strings.TrimPrefix(entry, m.prefix)
		}
		if m.suffix != "" {
			entry = strings.TrimSuffix(entry, m.suffix)
		}
	case *wordPiece:
		entry = strings.TrimPrefix(entry, m.prefix)
	}
	pre := t.preKinds()
	if pre.byteLevel {
		var b []byte
		for _, r := range entry {
			if c, ok := unByte[r]; ok {
				b = append(b, c)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
		entry = string(b)
	}
	if pre.metaspace != "" {
		entry = strings.ReplaceAll(entry, pre.metaspace, " ")
	}
	return entry
}

// unByte inverts byteChars.
var unByte = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	for b, r := range byteChars {
		m[r] = byte(b)
	}
	return m
}()

type preKinds struct {
	byteLevel bool
	metaspace string // the replacement character, when there is one
}

func (t *Tokenizer) preKinds() preKinds {
	var k preKinds
	var walk func(p preTokenizer)
	walk = func(p preTokenizer) {
		switch p := p.(type) {
		case preTokenizerSeq:
			for _, q := range p {
				walk(q)
			}
		case byteLevel:
			k.byteLevel = true
		case metaspace:
			k.metaspace = p.replacement
		}
	}
	walk(t.pre)
	if k.metaspace == "" {
		if _, ok := t.model.(*unigram); ok {
			k.metaspace = "▁"
		}
	}
	return k
}

// folded is a text folded for matching, with where each of its bytes came
// from in the original: from[i] and to[i] bound the original rune.
type folded struct {
	s        string
	from, to []int
}

// fold folds s rune by rune: compatibility decomposition, combining marks
// dropped, lower case. base is s's offset in the text.
func fold(s string, base int) folded {
	var f folded
	var b strings.Builder
	for i, r := range s {
		size := utf8.RuneLen(r)
		part := foldRune(r)
		b.WriteString(part)
		for range len(part) {
			f.from = append(f.from, base+i)
			f.to = append(f.to, base+i+size)
		}
	}
	f.s = b.String()
	return f
}

func foldRune(r rune) string {
	if r < utf8.RuneSelf {
		return string(unicode.ToLower(r))
	}
	var b strings.Builder
	for _, c := range norm.NFKD.String(string(r)) {
		if unicode.Is(unicode.Mn, c) {
			continue
		}
		b.WriteString(strings.ToLower(string(c)))
	}
	return b.String()
}

func foldString(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteString(foldRune(r))
	}
	return b.String()
}

// locate finds, in order, the bytes of the original text (seg, at offset
// at) that each of toks stands for. Tokens that are parts of one
// character (byte-level and byte-fallback pieces) share its span; a token
// that is only a space where the text has none (SentencePiece's leading
// "▁") stands for no byte, where it stands.
func (t *Tokenizer) locate(seg string, at int, toks []Token) {
	f := fold(seg, at)
	origin := func(pos int) int { // the original offset of folded byte pos
		if pos < len(f.from) {
			return f.from[pos]
		}
		return at + len(seg)
	}
	cursor := 0
	lost := false // a token before was not placed: the next may be further on
	for i := 0; i < len(toks); {
		// A run of tokens that together spell whole characters.
		j, text := i+1, t.surface(toks[i].Value)
		for !utf8.ValidString(text) && j < len(toks) {
			text += t.surface(toks[j].Value)
			j++
		}
		if toks[i].Special && toks[i].Value != "" {
			text = toks[i].Value
		}
		want := foldString(text)
		start, end := -1, -1
		switch trimmed := strings.TrimSpace(want); {
		case want == "":
		case trimmed == "" && strings.HasPrefix(f.s[cursor:], want):
			start, end = origin(cursor), f.to[cursor+len(want)-1]
			cursor += len(want)
		case trimmed == "":
			start, end = origin(cursor), origin(cursor)
		default:
			pos := cursor
			for pos < len(f.s) && isSpaceByte(f.s[pos]) {
				pos++
			}
			k := 0
			if !strings.HasPrefix(f.s[pos:], trimmed) {
				k = -1
				if lost {
					k = strings.Index(f.s[pos:], trimmed)
				}
			}
			if k >= 0 {
				pos += k
				start, end = f.from[pos], f.to[pos+len(trimmed)-1]
				cursor = pos + len(trimmed)
			}
		}
		for k := i; k < j; k++ {
			toks[k].Start, toks[k].End = start, end
		}
		lost = start < 0 && !toks[i].Special
		i = j
	}
	// Tokens placed nowhere between two placed ones (BERT's [UNK]s) stand
	// for what lies between them: one each for its words, or its
	// characters, when there are as many.
	for i := 0; i < len(toks); {
		if toks[i].Start >= 0 || toks[i].Special {
			i++
			continue
		}
		j := i
		for j < len(toks) && toks[j].Start < 0 && !toks[j].Special {
			j++
		}
		lo, hi := at, at+len(seg)
		if i > 0 {
			lo = toks[i-1].End
		}
		if j < len(toks) {
			hi = toks[j].Start
		}
		if (i == 0 || toks[i-1].Start >= 0) && (j == len(toks) || toks[j].Start >= 0) && lo <= hi {
			units := unitsOf(seg[lo-at:hi-at], lo, j-i)
			for k := i; k < j && units != nil; k++ {
				toks[k].Start, toks[k].End = units[k-i][0], units[k-i][1]
			}
		}
		i = j
	}
}

// unitsOf splits s (at offset base) into n spans: its words, else its
// characters, when it has exactly n of them; nil otherwise.
func unitsOf(s string, base, n int) [][2]int {
	var words, chars [][2]int
	inWord := false
	for i, r := range s {
		if unicode.IsSpace(r) {
			inWord = false
			continue
		}
		size := utf8.RuneLen(r)
		chars = append(chars, [2]int{base + i, base + i + size})
		if inWord {
			words[len(words)-1][1] = base + i + size
		} else {
			words = append(words, [2]int{base + i, base + i + size})
			inWord = true
		}
	}
	switch {
	case len(words) == n:
		return words
	case len(chars) == n:
		return chars
	}
	return nil
}

func isSpaceByte(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

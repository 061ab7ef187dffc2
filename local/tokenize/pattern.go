package tokenize

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dlclark/regexp2"
)

// patternSpec is tokenizers' {"String": "..."} or {"Regex": "..."}.
type patternSpec struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

// pattern finds non-overlapping matches, left to right, in rune positions.
type pattern struct {
	literal string // set for String patterns: plain substring search
	re      *regexp2.Regexp
}

// matchTimeout bounds a pathological pattern on hostile input; real
// tokenizer patterns finish in microseconds.
const matchTimeout = 2 * time.Second

func (p patternSpec) compile() (*pattern, error) {
	switch {
	case p.String != nil:
		if *p.String == "" {
			return nil, errors.New("empty pattern")
		}
		return &pattern{literal: *p.String}, nil
	case p.Regex != nil:
		return compileRegex(*p.Regex)
	}
	return nil, errors.New("pattern has neither String nor Regex")
}

func compileRegex(expr string) (*pattern, error) {
	re, err := regexp2.Compile(expr, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", expr, err)
	}
	re.MatchTimeout = matchTimeout
	return &pattern{re: re}, nil
}

// find returns [start, end) rune spans of every match in rs.
func (p *pattern) find(rs []rune) ([][2]int, error) {
	var out [][2]int
	if p.literal != "" {
		lit := []rune(p.literal)
		for i := 0; i+len(lit) <= len(rs); {
			if runesHasPrefix(rs[i:], lit) {
				out = append(out, [2]int{i, i + len(lit)})
				i += len(lit)
			} else {
				i++
			}
		}
		return out, nil
	}
	m, err := p.re.FindRunesMatch(rs)
	for ; m != nil && err == nil; m, err = p.re.FindNextMatch(m) {
		if m.Length == 0 {
			continue // tokenizers skips empty matches
		}
		out = append(out, [2]int{m.Index, m.Index + m.Length})
	}
	if err != nil {
		return nil, fmt.Errorf("pattern %s: %w", p.re.String(), err)
	}
	return out, nil
}

func runesHasPrefix(rs, prefix []rune) bool {
	if len(rs) < len(prefix) {
		return false
	}
	for i, r := range prefix {
		if rs[i] != r {
			return false
		}
	}
	return true
}

func (p *pattern) replaceAll(s, with string) (string, error) {
	rs := []rune(s)
	spans, err := p.find(rs)
	if err != nil || len(spans) == 0 {
		return s, err
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(string(rs[last:sp[0]]))
		b.WriteString(with)
		last = sp[1]
	}
	b.WriteString(string(rs[last:]))
	return b.String(), nil
}

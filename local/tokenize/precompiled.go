package tokenize

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/rivo/uniseg"
)

// precompiled is SentencePiece's compiled normalization rules (nmt_nfkc and
// friends) as tokenizers' Precompiled normalizer applies them: a darts-clone
// double-array trie from input byte sequences to replacement strings.
type precompiled struct {
	trie       []uint32
	normalized []byte // NUL-terminated replacements the trie's values index
}

func parsePrecompiled(b64 string) (*precompiled, error) {
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("the Precompiled charsmap: %w", err)
	}
	if len(data) < 4 {
		return nil, errors.New("the Precompiled charsmap is empty")
	}
	n := int(binary.LittleEndian.Uint32(data))
	if n%4 != 0 || 4+n > len(data) {
		return nil, fmt.Errorf("the Precompiled charsmap: trie of %d bytes does not fit in %d", n, len(data))
	}
	p := &precompiled{trie: make([]uint32, n/4), normalized: data[4+n:]}
	for i := range p.trie {
		p.trie[i] = binary.LittleEndian.Uint32(data[4+4*i:])
	}
	return p, nil
}

func unitHasLeaf(u uint32) bool  { return (u>>8)&1 == 1 }
func unitValue(u uint32) uint32  { return u & (1<<31 - 1) }
func unitLabel(u uint32) uint32  { return u & (1<<31 | 0xff) }
func unitOffset(u uint32) uint32 { return (u >> 10) << ((u & (1 << 9)) >> 6) }

// firstPrefix is darts-clone's commonPrefixSearch, stopped at the first
// (shortest) match, which is the one tokenizers uses.
func (p *precompiled) firstPrefix(key string) (uint32, bool) {
	if len(p.trie) == 0 {
		return 0, false
	}
	pos := unitOffset(p.trie[0])
	for i := 0; i < len(key); i++ {
		c := uint32(key[i])
		if c == 0 {
			break
		}
		pos ^= c
		if int(pos) >= len(p.trie) {
			return 0, false
		}
		u := p.trie[pos]
		if unitLabel(u) != c {
			return 0, false
		}
		pos ^= unitOffset(u)
		if int(pos) >= len(p.trie) {
			return 0, false
		}
		if unitHasLeaf(u) {
			return unitValue(p.trie[pos]), true
		}
	}
	return 0, false
}

func (p *precompiled) transform(chunk string) (string, bool) {
	idx, ok := p.firstPrefix(chunk)
	if !ok || int(idx) >= len(p.normalized) {
		return "", false
	}
	end := int(idx)
	for end < len(p.normalized) && p.normalized[end] != 0 {
		end++
	}
	return string(p.normalized[idx:end]), true
}

// normalize is spm_precompiled's normalize_string: each grapheme cluster
// shorter than 6 bytes is looked up whole, else (or when absent) each of
// its characters is.
func (p *precompiled) normalize(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		cluster := g.Str()
		if len(cluster) < 6 {
			if norm, ok := p.transform(cluster); ok {
				b.WriteString(norm)
				continue
			}
		}
		for _, r := range cluster {
			part := string(r)
			if norm, ok := p.transform(part); ok {
				b.WriteString(norm)
			} else {
				b.WriteString(part)
			}
		}
	}
	return b.String(), nil
}

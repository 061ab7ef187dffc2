package tokenize

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode/utf8"
)

// model maps one pre-tokenized piece to ids.
type model interface {
	tokenize(word string) []int
	id(token string) (int, bool)
}

type vocab map[string]int

func (v vocab) id(token string) (int, bool) {
	id, ok := v[token]
	return id, ok
}

// longest is the length of the longest entry, in bytes.
func (v vocab) longest() int {
	n := 0
	for tok := range v {
		n = max(n, len(tok))
	}
	return n
}

// bpe is tokenizers' BPE model (no dropout: inference only).
type bpe struct {
	vocab
	merges       map[[2]int]mergeInfo // pair of ids -> what it merges into
	unk          int                  // -1 without an unk token
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix

	cacheMu sync.RWMutex
	cache   map[string][]int
}

type mergeInfo struct{ rank, id int }

const bpeCacheMax = 10000

func (m *bpe) tokenize(word string) []int {
	if word == "" {
		return nil
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return []int{id}
		}
	}
	m.cacheMu.RLock()
	ids, ok := m.cache[word]
	m.cacheMu.RUnlock()
	if ok {
		return ids
	}
	ids = m.merge(m.symbols(word))
	m.cacheMu.Lock()
	if len(m.cache) >= bpeCacheMax {
		clear(m.cache)
	}
	m.cache[word] = ids
	m.cacheMu.Unlock()
	return ids
}

// symbols splits a word into initial symbols: characters, with the prefix
// on all but the first and the suffix on the last.
func (m *bpe) symbols(word string) []int {
	var ids []int
	n := utf8.RuneCountInString(word)
	i := 0
	lastUnk := false
	for _, r := range word {
		s := string(r)
		if i > 0 && m.prefix != "" {
			s = m.prefix + s
		}
		if i == n-1 && m.suffix != "" {
			s += m.suffix
		}
		i++
		if id, ok := m.vocab[s]; ok {
			ids = append(ids, id)
			lastUnk = false
			continue
		}
		if m.byteFallback {
			var bytes []int
			for _, b := range []byte(string(r)) {
				if id, ok := m.vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
					bytes = append(bytes, id)
				} else {
					bytes = nil
					break
				}
			}
			if bytes != nil {
				ids = append(ids, bytes...)
				lastUnk = false
				continue
			}
		}
		if m.unk < 0 {
			continue // tokenizers drops characters it cannot represent
		}
		if m.fuseUnk && lastUnk {
			continue
		}
		ids = append(ids, m.unk)
		lastUnk = true
	}
	return ids
}

// merge applies merges lowest rank first, leftmost first among equal ranks,
// which is the order tokenizers' priority queue produces.
func (m *bpe) merge(ids []int) []int {
	for len(ids) > 1 {
		best, at := mergeInfo{rank: math.MaxInt}, -1
		for i := 0; i+1 < len(ids); i++ {
			if mi, ok := m.merges[[2]int{ids[i], ids[i+1]}]; ok && mi.rank < best.rank {
				best, at = mi, i
			}
		}
		if at < 0 {
			break
		}
		ids[at] = best.id
		ids = append(ids[:at+1], ids[at+2:]...)
	}
	return ids
}

func (m *bpe) stripPrefix(s string) string {
	if m.prefix != "" {
		return strings.TrimPrefix(s, m.prefix)
	}
	return s
}

type wordPiece struct {
	vocab
	unk      int
	prefix   string
	maxChars int
}

func (m *wordPiece) tokenize(word string) []int {
	if utf8.RuneCountInString(word) > m.maxChars {
		return []int{m.unk}
	}
	var ids []int
	for start := 0; start < len(word); {
		end := len(word)
		found := -1
		for end > start {
			s := word[start:end]
			if start > 0 {
				s = m.prefix + s
			}
			if id, ok := m.vocab[s]; ok {
				found = id
				break
			}
			_, size := utf8.DecodeLastRuneInString(word[start:end])
			end -= size
		}
		if found < 0 {
			return []int{m.unk}
		}
		ids = append(ids, found)
		start = end
	}
	return ids
}

type wordLevel struct {
	vocab
	unk int
}

func (m *wordLevel) tokenize(word string) []int {
	if id, ok := m.vocab[word]; ok {
		return []int{id}
	}
	if m.unk < 0 {
		return nil
	}
	return []int{m.unk}
}

// unigram is tokenizers' Unigram model: the Viterbi segmentation with the
// highest total log-probability.
type unigram struct {
	vocab
	scores       []float64
	unk          int
	unkScore     float64
	byteFallback bool
	maxLen       int // longest piece, in bytes
}

func (m *unigram) tokenize(word string) []int {
	if word == "" {
		return nil
	}
	type node struct {
		score float64
		start int
		id    int
		set   bool
	}
	best := make([]node, len(word)+1)
	best[0].set = true
	for start := 0; start < len(word); {
		_, mblen := utf8.DecodeRuneInString(word[start:])
		if !best[start].set {
			start += mblen
			continue
		}
		base := best[start].score
		single := false
		for end := start + 1; end <= len(word) && end-start <= m.maxLen; end++ {
			if !utf8.RuneStart(wordByte(word, end)) {
				continue
			}
			id, ok := m.vocab[word[start:end]]
			if !ok {
				continue
			}
			if c := base + m.scores[id]; !best[end].set || c > best[end].score {
				best[end] = node{score: c, start: start, id: id, set: true}
			}
			if end-start == mblen {
				single = true
			}
		}
		if !single {
			end := start + mblen
			if c := base + m.unkScore; !best[end].set || c > best[end].score {
				best[end] = node{score: c, start: start, id: m.unk, set: true}
			}
		}
		start += mblen
	}
	var rev []int
	var revStarts []int
	for end := len(word); end > 0; end = best[end].start {
		rev = append(rev, best[end].id)
		revStarts = append(revStarts, best[end].start)
	}
	var ids []int
	for i := len(rev) - 1; i >= 0; i-- {
		id := rev[i]
		if id == m.unk && len(ids) > 0 && ids[len(ids)-1] == m.unk && !m.byteFallback {
			continue // fuse_unk
		}
		if id == m.unk && m.byteFallback {
			end := len(word)
			if i > 0 {
				end = revStarts[i-1]
			}
			if b := m.bytes(word[revStarts[i]:end]); b != nil {
				ids = append(ids, b...)
				continue
			}
		}
		ids = append(ids, id)
	}
	return ids
}

func wordByte(s string, i int) byte {
	if i >= len(s) {
		return 0
	}
	return s[i]
}

func (m *unigram) bytes(s string) []int {
	var out []int
	for _, b := range []byte(s) {
		id, ok := m.vocab[fmt.Sprintf("<0x%02X>", b)]
		if !ok {
			return nil
		}
		out = append(out, id)
	}
	return out
}

type modelSpec struct {
	Type         string          `json:"type"`
	Vocab        json.RawMessage `json:"vocab"`
	Merges       json.RawMessage `json:"merges"`
	UnkToken     *string         `json:"unk_token"`
	UnkID        *int            `json:"unk_id"`
	Prefix       *string         `json:"continuing_subword_prefix"`
	Suffix       *string         `json:"end_of_word_suffix"`
	FuseUnk      bool            `json:"fuse_unk"`
	ByteFallback bool            `json:"byte_fallback"`
	IgnoreMerges bool            `json:"ignore_merges"`
	MaxChars     *int            `json:"max_input_chars_per_word"`
	Dropout      *float64        `json:"dropout"`
}

func parseModel(raw json.RawMessage) (model, error) {
	var s modelSpec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if s.Type == "" { // very old files leave the type out
		switch {
		case len(s.Merges) > 0:
			s.Type = "BPE"
		case s.Prefix != nil:
			s.Type = "WordPiece"
		}
	}
	switch s.Type {
	case "BPE":
		return parseBPE(s)
	case "WordPiece":
		v, err := parseVocabMap(s.Vocab)
		if err != nil {
			return nil, err
		}
		m := &wordPiece{vocab: v, prefix: "##", maxChars: 100}
		if s.Prefix != nil {
			m.prefix = *s.Prefix
		}
		if s.MaxChars != nil {
			m.maxChars = *s.MaxChars
		}
		unk := "[UNK]"
		if s.UnkToken != nil {
			unk = *s.UnkToken
		}
		var ok bool
		if m.unk, ok = v[unk]; !ok {
			return nil, fmt.Errorf("the WordPiece unk token %q is not in the vocabulary", unk)
		}
		return m, nil
	case "WordLevel":
		v, err := parseVocabMap(s.Vocab)
		if err != nil {
			return nil, err
		}
		m := &wordLevel{vocab: v, unk: -1}
		if s.UnkToken != nil {
			if id, ok := v[*s.UnkToken]; ok {
				m.unk = id
			}
		}
		return m, nil
	case "Unigram":
		return parseUnigram(s)
	}
	return nil, fmt.Errorf("model %q is not supported", s.Type)
}

func parseVocabMap(raw json.RawMessage) (vocab, error) {
	var v map[string]int
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("model vocab: %w", err)
	}
	if len(v) == 0 {
		return nil, errors.New("model vocab is empty")
	}
	return v, nil
}

func parseBPE(s modelSpec) (model, error) {
	v, err := parseVocabMap(s.Vocab)
	if err != nil {
		return nil, err
	}
	if s.Dropout != nil && *s.Dropout > 0 {
		return nil, errors.New("BPE dropout is for training; refusing a tokenizer that would be nondeterministic")
	}
	// Merges are "a b" strings in older files and ["a", "b"] pairs in newer.
	var pairs [][2]string
	var asStrings []string
	if err := json.Unmarshal(s.Merges, &asStrings); err == nil {
		for _, m := range asStrings {
			a, b, ok := strings.Cut(m, " ")
			if !ok {
				return nil, fmt.Errorf("the BPE merge %q is not two tokens", m)
			}
			pairs = append(pairs, [2]string{a, b})
		}
	} else if err := json.Unmarshal(s.Merges, &pairs); err != nil {
		return nil, fmt.Errorf("the BPE merges: %w", err)
	}
	m := &bpe{vocab: v, merges: make(map[[2]int]mergeInfo, len(pairs)), unk: -1, fuseUnk: s.FuseUnk,
		byteFallback: s.ByteFallback, ignoreMerges: s.IgnoreMerges, cache: map[string][]int{}}
	if s.Prefix != nil {
		m.prefix = *s.Prefix
	}
	if s.Suffix != nil {
		m.suffix = *s.Suffix
	}
	if s.UnkToken != nil {
		if id, ok := v[*s.UnkToken]; ok {
			m.unk = id
		}
	}
	for rank, p := range pairs {
		a, okA := v[p[0]]
		b, okB := v[p[1]]
		id, okM := v[p[0]+m.stripPrefix(p[1])]
		if !okA || !okB || !okM {
			return nil, fmt.Errorf("the BPE merge %q + %q uses tokens missing from the vocabulary", p[0], p[1])
		}
		if _, dup := m.merges[[2]int{a, b}]; !dup {
			m.merges[[2]int{a, b}] = mergeInfo{rank, id}
		}
	}
	return m, nil
}

func parseUnigram(s modelSpec) (model, error) {
	var entries [][2]json.RawMessage
	if err := json.Unmarshal(s.Vocab, &entries); err != nil {
		return nil, fmt.Errorf("the Unigram vocab: %w", err)
	}
	if len(entries) == 0 {
		return nil, errors.New("the Unigram vocab is empty")
	}
	m := &unigram{vocab: make(vocab, len(entries)), scores: make([]float64, len(entries)), byteFallback: s.ByteFallback, unk: -1}
	minScore := math.Inf(1)
	for i, e := range entries {
		var tok string
		var score float64
		if err := json.Unmarshal(e[0], &tok); err != nil {
			return nil, fmt.Errorf("the Unigram vocab entry %d: %w", i, err)
		}
		if err := json.Unmarshal(e[1], &score); err != nil {
			return nil, fmt.Errorf("the Unigram vocab entry %d: %w", i, err)
		}
		if _, dup := m.vocab[tok]; !dup {
			m.vocab[tok] = i
		}
		m.scores[i] = score
		minScore = math.Min(minScore, score)
		m.maxLen = max(m.maxLen, len(tok))
	}
	if s.UnkID == nil {
		return nil, errors.New("the Unigram model has no unk_id")
	}
	if *s.UnkID < 0 || *s.UnkID >= len(entries) {
		return nil, fmt.Errorf("the Unigram unk_id %d is out of range", *s.UnkID)
	}
	m.unk = *s.UnkID
	const unkPenalty = 10.0 // tokenizers' K_UNK_PENALTY
	m.unkScore = minScore - unkPenalty
	return m, nil
}

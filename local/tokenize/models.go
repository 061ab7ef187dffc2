package tokenize

import (
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tidwall/gjson"
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
	merges       map[uint64]uint64 // pair of ids (pairKey) -> rank<<32 | the id it merges into
	unk          int               // -1 without an unk token
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix

	cacheMu sync.RWMutex
	cache   map[string][]int
}

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
// which is the order tokenizers' priority queue produces. Short words
// (most of them) are merged by scanning; long ones, such as a whole text
// for tokenizers with no pre-tokenizer (Gemma's), through a heap, so that
// a word of n symbols costs O(n log n), not O(n²).
func (m *bpe) merge(ids []int) []int {
	if len(ids) > 64 {
		return m.mergeHeap(ids)
	}
	return m.mergeScan(ids)
}

// mergeScan finds each merge by scanning the word: cheapest for short words.
func (m *bpe) mergeScan(ids []int) []int {
	for len(ids) > 1 {
		bestRank, bestID, at := uint64(math.MaxUint64), 0, -1
		for i := 0; i+1 < len(ids); i++ {
			if mi, ok := m.merges[pairKey(ids[i], ids[i+1])]; ok && mi>>32 < bestRank {
				bestRank, bestID, at = mi>>32, int(uint32(mi)), i
			}
		}
		if at < 0 {
			break
		}
		ids[at] = bestID
		ids = append(ids[:at+1], ids[at+2:]...)
	}
	return ids
}

// mergeHeap is merge over a doubly linked list of symbols and a heap of
// candidate merges keyed by (rank, position), as tokenizers' BPE does: a
// popped merge whose symbols have changed since it was pushed is skipped.
func (m *bpe) mergeHeap(ids []int) []int {
	n := len(ids)
	prev, next := make([]int, n), make([]int, n)
	alive := make([]bool, n)
	for i := range ids {
		prev[i], next[i], alive[i] = i-1, i+1, true
	}
	next[n-1] = -1
	h := &mergeQueue{}
	push := func(i int) {
		j := next[i]
		if j < 0 {
			return
		}
		if mi, ok := m.merges[pairKey(ids[i], ids[j])]; ok {
			heap.Push(h, candidate{rank: mi >> 32, pos: i, left: ids[i], right: ids[j], id: int(uint32(mi))})
		}
	}
	for i := 0; i+1 < n; i++ {
		push(i)
	}
	for h.Len() > 0 {
		c := heap.Pop(h).(candidate)
		i := c.pos
		j := next[i]
		if !alive[i] || j < 0 || ids[i] != c.left || ids[j] != c.right {
			continue // stale: a neighbour merged first
		}
		ids[i] = c.id
		alive[j] = false
		next[i] = next[j]
		if next[j] >= 0 {
			prev[next[j]] = i
		}
		if prev[i] >= 0 {
			push(prev[i])
		}
		push(i)
	}
	out := ids[:0]
	for i := 0; i >= 0; i = next[i] {
		out = append(out, ids[i])
	}
	return out
}

type candidate struct {
	rank        uint64
	pos         int
	left, right int
	id          int
}

// mergeQueue orders candidates by rank, then position.
type mergeQueue []candidate

func (q mergeQueue) Len() int { return len(q) }
func (q mergeQueue) Less(a, b int) bool {
	if q[a].rank != q[b].rank {
		return q[a].rank < q[b].rank
	}
	return q[a].pos < q[b].pos
}
func (q mergeQueue) Swap(a, b int) { q[a], q[b] = q[b], q[a] }
func (q *mergeQueue) Push(x any)   { *q = append(*q, x.(candidate)) }
func (q *mergeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
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
	Type         string   `json:"type"`
	UnkToken     *string  `json:"unk_token"`
	UnkID        *int     `json:"unk_id"`
	Prefix       *string  `json:"continuing_subword_prefix"`
	Suffix       *string  `json:"end_of_word_suffix"`
	FuseUnk      bool     `json:"fuse_unk"`
	ByteFallback bool     `json:"byte_fallback"`
	IgnoreMerges bool     `json:"ignore_merges"`
	MaxChars     *int     `json:"max_input_chars_per_word"`
	Dropout      *float64 `json:"dropout"`

	// vocab and merges are read in place (a Gemma tokenizer.json has 256k
	// of one and half a million of the other): no intermediate map of
	// strings, no copy of the document.
	vocab, merges gjson.Result
}

// parseModelResult reads the model object of a tokenizer.json: its small
// fields through encoding/json, its vocabulary and merges in place.
func parseModelResult(r gjson.Result) (model, error) {
	if !r.IsObject() {
		return nil, errors.New("model: not an object")
	}
	var s modelSpec
	small := []byte{'{'}
	var err error
	r.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "vocab":
			s.vocab = v
		case "merges":
			s.merges = v
		default:
			if len(small) > 1 {
				small = append(small, ',')
			}
			small = append(small, k.Raw...)
			small = append(small, ':')
			small = append(small, v.Raw...)
		}
		return true
	})
	small = append(small, '}')
	if err = json.Unmarshal(small, &s); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if s.Type == "" { // very old files leave the type out
		switch {
		case s.merges.Exists():
			s.Type = "BPE"
		case s.Prefix != nil:
			s.Type = "WordPiece"
		}
	}
	switch s.Type {
	case "BPE":
		return parseBPE(s)
	case "WordPiece":
		v, err := parseVocabMap(s.vocab)
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
		v, err := parseVocabMap(s.vocab)
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

// parseVocabMap reads a {"token": id} object; the tokens are copied out of
// the document, so it need not stay in memory.
func parseVocabMap(r gjson.Result) (vocab, error) {
	if !r.IsObject() {
		return nil, errors.New("model vocab: not an object of token ids")
	}
	// Sized from the text (an entry takes some 16 to 30 bytes), so that a
	// quarter-million-token vocabulary is not rehashed many times over.
	v := make(vocab, min(len(r.Raw)/32, 1<<22))
	var err error
	r.ForEach(func(k, id gjson.Result) bool {
		if id.Type != gjson.Number || id.Num != math.Trunc(id.Num) || id.Num < 0 || id.Num > math.MaxInt32 {
			err = fmt.Errorf("model vocab: the id of %q is %s, not a token id", k.Str, id.Raw)
			return false
		}
		v[strings.Clone(k.Str)] = int(id.Num)
		return true
	})
	if err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, errors.New("model vocab is empty")
	}
	return v, nil
}

func parseBPE(s modelSpec) (model, error) {
	v, err := parseVocabMap(s.vocab)
	if err != nil {
		return nil, err
	}
	if s.Dropout != nil && *s.Dropout > 0 {
		return nil, errors.New("BPE dropout is for training; refusing a tokenizer that would be nondeterministic")
	}
	m := &bpe{vocab: v, unk: -1, fuseUnk: s.FuseUnk, byteFallback: s.ByteFallback, ignoreMerges: s.IgnoreMerges,
		cache: map[string][]int{}}
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
	if s.merges.Exists() && !s.merges.IsArray() {
		return nil, errors.New("the BPE merges: not an array")
	}
	// Merges are "a b" strings in older files and ["a", "b"] pairs in
	// newer ones. They are gathered in one pass, their ids looked up on
	// every core (half a million merges for Gemma's vocabulary: three
	// lookups each), and entered in rank order.
	type pair struct{ a, b string }
	pairs := make([]pair, 0, min(len(s.merges.Raw)/24, 1<<23))
	s.merges.ForEach(func(_, x gjson.Result) bool {
		var a, b string
		switch {
		case x.Type == gjson.String:
			var ok bool
			if a, b, ok = strings.Cut(x.Str, " "); !ok {
				err = fmt.Errorf("the BPE merge %q is not two tokens", x.Str)
				return false
			}
		case x.IsArray():
			n := 0
			x.ForEach(func(_, p gjson.Result) bool { // no slice per merge, unlike Array
				if p.Type != gjson.String {
					n = 3
					return false
				}
				if n == 0 {
					a = p.Str
				} else {
					b = p.Str
				}
				n++
				return n <= 2
			})
			if n != 2 {
				err = fmt.Errorf("the BPE merge %s is not two tokens", x.Raw)
				return false
			}
		default:
			err = fmt.Errorf("the BPE merge %s is not two tokens", x.Raw)
			return false
		}
		pairs = append(pairs, pair{a, b})
		return true
	})
	if err != nil {
		return nil, err
	}
	resolved := make([][3]int32, len(pairs)) // left, right, merged; -1 when missing
	workers := max(1, min(runtime.GOMAXPROCS(0), len(pairs)/20000, 16))
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*len(pairs)/workers, (w+1)*len(pairs)/workers
		wg.Go(func() {
			var buf []byte // the merged token, looked up without building a string
			for i := lo; i < hi; i++ {
				p := pairs[i]
				r := [3]int32{-1, -1, -1}
				if id, ok := v[p.a]; ok {
					r[0] = int32(id)
				}
				if id, ok := v[p.b]; ok {
					r[1] = int32(id)
				}
				buf = append(append(buf[:0], p.a...), m.stripPrefix(p.b)...)
				if id, ok := v[string(buf)]; ok {
					r[2] = int32(id)
				}
				resolved[i] = r
			}
		})
	}
	wg.Wait()
	m.merges = make(map[uint64]uint64, len(pairs))
	for rank, r := range resolved {
		if r[0] < 0 || r[1] < 0 || r[2] < 0 {
			return nil, fmt.Errorf("the BPE merge %q + %q uses tokens missing from the vocabulary", pairs[rank].a, pairs[rank].b)
		}
		key := pairKey(int(r[0]), int(r[1]))
		if _, dup := m.merges[key]; !dup {
			m.merges[key] = uint64(rank)<<32 | uint64(uint32(r[2]))
		}
	}
	return m, nil
}

func pairKey(a, b int) uint64 { return uint64(a)<<32 | uint64(uint32(b)) }

func parseUnigram(s modelSpec) (model, error) {
	if !s.vocab.IsArray() {
		return nil, errors.New("the Unigram vocab: not an array of [piece, score] pairs")
	}
	entries := s.vocab.Array()
	if len(entries) == 0 {
		return nil, errors.New("the Unigram vocab is empty")
	}
	m := &unigram{vocab: make(vocab, len(entries)), scores: make([]float64, len(entries)), byteFallback: s.ByteFallback, unk: -1}
	minScore := math.Inf(1)
	for i, e := range entries {
		pair := e.Array()
		if !e.IsArray() || len(pair) != 2 || pair[0].Type != gjson.String || pair[1].Type != gjson.Number {
			return nil, fmt.Errorf("the Unigram vocab entry %d: want [piece, score], got %s", i, e.Raw)
		}
		tok, score := strings.Clone(pair[0].Str), pair[1].Num
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

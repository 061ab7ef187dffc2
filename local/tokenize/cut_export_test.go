package tokenize

// WithoutCut is t tokenizing every text whole: the reference a cut must
// match.
func WithoutCut(t *Tokenizer) *Tokenizer {
	c := *t
	c.cut = false
	return &c
}

// WithCutAt is t trying its first cut at n bytes a token, so that short
// texts are cut too.
func WithCutAt(t *Tokenizer, n int) *Tokenizer {
	c := *t
	c.bytesPerToken = n
	return &c
}

// Cuts reports whether t cuts long texts.
func Cuts(t *Tokenizer) bool { return t.cut }

package hybridembed

import (
	"context"
	"fmt"
)

// Token is one token of a text as the model's own tokenizer makes it.
type Token struct {
	ID int
	// Text is what the token stands for in the text (text[Start:End]);
	// for a special token, and one the tokenizer's normalization changed
	// past recognition, its vocabulary entry.
	Text    string
	Special bool
	// Start and End are byte offsets into the text; -1 for a special
	// token the tokenizer adds around it, or one it cannot place.
	Start, End int
}

// Tokenize is text's tokens with the model's tokenizer, never truncated
// (a text longer than [Model.TokenLimit] gives them all), with the special
// tokens the model adds when addSpecial: what TEI's /tokenize returns. It
// needs the model's files on this machine: ErrNotCached otherwise.
func (m *Model) Tokenize(ctx context.Context, text string, addSpecial bool) (_ []Token, err error) {
	_, lm, done, err := m.holdLocal(ctx)
	if err != nil {
		return nil, err
	}
	defer done(&err)
	tok, err := lm.Tokenizer()
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.name, err)
	}
	toks, err := tok.Tokens(text, addSpecial)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.name, err)
	}
	out := make([]Token, len(toks))
	for i, t := range toks {
		out[i] = Token{ID: t.ID, Text: t.Value, Special: t.Special, Start: t.Start, End: t.End}
		if t.Start >= 0 && !t.Special {
			out[i].Text = text[t.Start:t.End]
		}
	}
	return out, nil
}

// TokenLimit is the most tokens of a text the model reads, its special
// tokens included (0: no limit); longer texts are truncated to it. It
// needs the model's files on this machine: ErrNotCached otherwise.
func (m *Model) TokenLimit(ctx context.Context) (_ int, err error) {
	_, lm, done, err := m.holdLocal(ctx)
	if err != nil {
		return 0, err
	}
	defer done(&err)
	tok, err := lm.Tokenizer()
	if err != nil {
		return 0, fmt.Errorf("model %s: %w", m.name, err)
	}
	return tok.MaxLength(), nil
}

// TextPooling says how the model makes one vector of a text's token
// states ("mean", "cls", "last_token" for CLIP), or "" when its files do
// not say or are not on this machine.
func (m *Model) TextPooling(ctx context.Context) string {
	_, lm, done, err := m.holdLocal(ctx)
	if err != nil {
		return ""
	}
	defer done(&err)
	return lm.TextPooling()
}

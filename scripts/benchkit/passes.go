package benchkit

import (
	"context"
	"math"
	"time"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/tokenize"
)

// Side is one side of a timed comparison: Run makes one pass over Items
// inputs.
type Side struct {
	Items int
	Run   func() error
}

// BestRates runs the sides' passes in turn, runs times, and returns each
// side's best rate (items per second over one pass). Interleaving the
// passes puts every side under the same drift of a shared machine, so that
// their ratio is fair.
func BestRates(runs int, sides ...Side) ([]float64, error) {
	best := make([]float64, len(sides))
	for range runs {
		for i, s := range sides {
			start := time.Now()
			if err := s.Run(); err != nil {
				return nil, err
			}
			best[i] = math.Max(best[i], float64(s.Items)/time.Since(start).Seconds())
		}
	}
	return best, nil
}

// RawPass is a pass of sess over batches, in order, counted as items
// inputs: raw ONNX Runtime, the side a benchmark holds the engine to.
func RawPass(ctx context.Context, sess *ort.Session, items int, batches [][]ort.Tensor) Side {
	return Side{Items: items, Run: func() error {
		for _, b := range batches {
			if _, err := sess.Run(ctx, b, nil); err != nil {
				return err
			}
		}
		return nil
	}}
}

// TextsPass is a pass of m.EmbedTexts over texts.
func TextsPass(ctx context.Context, m *hybridembed.Model, texts []string) Side {
	return Side{Items: len(texts), Run: func() error {
		_, err := m.EmbedTexts(ctx, texts)
		return err
	}}
}

// Encode tokenizes texts with tok, returning the encodings and the time
// one text took on average.
func Encode(tok *tokenize.Tokenizer, texts []string) ([]tokenize.Encoding, time.Duration, error) {
	start := time.Now()
	encs := make([]tokenize.Encoding, len(texts))
	for i, t := range texts {
		var err error
		if encs[i], err = tok.Encode(t); err != nil {
			return nil, 0, err
		}
	}
	return encs, time.Since(start) / time.Duration(max(1, len(texts))), nil
}

package hftest

import (
	"context"
	"testing"

	"github.com/hybridembed/hybridembed/local"
)

// ServeLocal serves model with the vectors of the model in dir, run by
// hybridembed's local engine; like the real router, it normalises when the
// model's own pipeline does (a sentence-transformers Normalize module). It
// skips the test when ONNX Runtime is not installed.
func (s *Server) ServeLocal(tb testing.TB, model, dir string) {
	tb.Helper()
	m, err := local.TestEngine(tb, local.Options{}).Load(dir, "")
	if err != nil {
		tb.Fatal(err)
	}
	s.Serve(model, func(ctx context.Context, texts []string) ([][]float32, error) {
		res, err := m.EmbedTexts(ctx, texts)
		if err != nil {
			return nil, err
		}
		out := make([][]float32, len(res))
		for i, r := range res {
			if r.Err != nil {
				return nil, r.Err
			}
			out[i] = append([]float32(nil), r.Vector...)
		}
		return out, nil
	}, m.Normalizes())
}

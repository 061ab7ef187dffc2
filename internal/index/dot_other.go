//go:build !amd64 || noasm || safe

package index

// dot is the inner product. gonum has no float32 assembly here (its loop
// keeps one accumulator), so this one, four accumulators wide, is used.
func dot(a, b []float32) float32 { return dotGo(a, b) }

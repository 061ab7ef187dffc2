// Package pooling turns token states into sentence vectors as
// sentence-transformers' Pooling module does, and scales vectors to unit
// length as its Normalize module does. The local engine (ONNX token
// outputs), the remote client (token states a server returns) and the
// server share it, so every path does the same arithmetic. The router
// emulator (remote/hftest) keeps its own: it must stay independent.
package pooling

import (
	"fmt"
	"math"
)

// Pool reduces token states [rows][cols][hidden] to one vector per row
// with the attention mask, as sentence-transformers' Pooling module does.
func Pool(states []float32, mask []int64, rows, cols, hidden int, modes []string) ([][]float32, error) {
	out := make([][]float32, rows)
	for r := 0; r < rows; r++ {
		h := states[r*cols*hidden : (r+1)*cols*hidden]
		m := mask[r*cols : (r+1)*cols]
		var vec []float32
		for _, mode := range modes {
			v := make([]float32, hidden)
			switch mode {
			case "cls":
				copy(v, h[:hidden])
			case "lasttoken":
				last := 0
				for t := range m {
					if m[t] != 0 {
						last = t
					}
				}
				copy(v, h[last*hidden:(last+1)*hidden])
			case "max":
				for j := range v {
					v[j] = -1e9 // sentence-transformers' fill for padded tokens
				}
				for t := 0; t < cols; t++ {
					if m[t] == 0 {
						continue
					}
					for j := range v {
						v[j] = max(v[j], h[t*hidden+j])
					}
				}
			case "mean", "mean_sqrt_len", "weightedmean":
				var n float64
				acc := make([]float64, hidden)
				for t := 0; t < cols; t++ {
					if m[t] == 0 {
						continue
					}
					w := 1.0
					if mode == "weightedmean" {
						w = float64(t + 1)
					}
					n += w
					for j := range acc {
						acc[j] += w * float64(h[t*hidden+j])
					}
				}
				div := math.Max(n, 1e-9)
				if mode == "mean_sqrt_len" {
					div = math.Sqrt(math.Max(n, 1e-9))
				}
				for j := range v {
					v[j] = float32(acc[j] / div)
				}
			default:
				return nil, fmt.Errorf("unknown pooling mode %q", mode)
			}
			vec = append(vec, v...)
		}
		out[r] = vec
	}
	return out, nil
}

// Normalize scales v to unit L2 norm in place, accumulating in float64; a
// zero (or non-finite) vector stays as it is and reports false.
func Normalize(v []float32) bool {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 || math.IsNaN(ss) || math.IsInf(ss, 0) {
		return false
	}
	inv := 1 / math.Sqrt(ss)
	for i, x := range v {
		v[i] = float32(float64(x) * inv)
	}
	return true
}

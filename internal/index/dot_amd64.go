//go:build !noasm && !safe

package index

import "gonum.org/v1/gonum/blas/blas32"

// dot is the inner product, through gonum's SSE assembly where the Go
// compiler emits one scalar multiply-add at a time: over a 100,000-photo,
// 512-d index on 2 cores a scan takes 15 ms with it, 21 ms with dotGo.
func dot(a, b []float32) float32 {
	return blas32.Dot(blas32.Vector{N: len(a), Inc: 1, Data: a}, blas32.Vector{N: len(a), Inc: 1, Data: b[:len(a)]})
}

//go:build amd64 && !purego

package imageprep

import "golang.org/x/sys/cpu"

// maxSIMD is the best of the resampler's vector kernels this CPU runs.
var maxSIMD = func() int {
	switch {
	case cpu.X86.HasAVX512F:
		return simdAVX512
	case cpu.X86.HasAVX2:
		return simdAVX2
	}
	return simdNone
}()

//go:noescape
func hrowAVX2(out *byte, in *byte, off *int32, pairs *int32, w *int32, stride int, n int)

//go:noescape
func hrowAVX512(out *byte, in *byte, off *int32, chunks *int32, w *int32, stride int, n int)

//go:noescape
func vrowAVX2(dst *byte, src *byte, rowStride int, w *int32, taps int, groups int)

//go:build amd64 && !purego

package imageprep

import "golang.org/x/sys/cpu"

// haveSIMD says whether the resampler's AVX2 kernels can run here.
var haveSIMD = cpu.X86.HasAVX2

//go:noescape
func hrowAVX2(out *byte, in *byte, off *int32, pairs *int32, w *int32, stride int, n int)

//go:noescape
func vrowAVX2(dst *byte, src *byte, rowStride int, w *int32, taps int, groups int)

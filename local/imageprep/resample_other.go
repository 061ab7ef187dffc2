//go:build !amd64 || purego

package imageprep

// maxSIMD: this build has no vector kernels and the scalar resampler runs.
const maxSIMD = simdNone

func hrowAVX2(out *byte, in *byte, off *int32, pairs *int32, w *int32, stride int, n int) {
	panic("imageprep: no AVX2 kernel in this build")
}

func hrowAVX512(out *byte, in *byte, off *int32, chunks *int32, w *int32, stride int, n int) {
	panic("imageprep: no AVX-512 kernel in this build")
}

func vrowAVX2(dst *byte, src *byte, rowStride int, w *int32, taps int, groups int) {
	panic("imageprep: no AVX2 kernel in this build")
}

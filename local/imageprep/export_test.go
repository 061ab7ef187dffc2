package imageprep

import "image"

// Resampler kernel levels, for tests.
const (
	SIMDNone   = simdNone
	SIMDAVX2   = simdAVX2
	SIMDAVX512 = simdAVX512
)

// SetSIMD picks the resampling kernels (capped at what the CPU has) and
// returns the previous level.
func SetSIMD(level int) int {
	prev := useSIMD
	useSIMD = min(level, maxSIMD)
	return prev
}

// MaxSIMD is the best kernel level this CPU and build run.
func MaxSIMD() int { return maxSIMD }

// DecodeUnguarded is d.Decode without the recover that turns a decoder
// panic into an error: the fuzz tests call it, so that a panic fails them.
func (d Decoder) DecodeUnguarded(data []byte) (*RGB, error) {
	return d.decode(data, func(fn func() error) error { return fn() })
}

// ConfigUnguarded is Config without the recover.
func ConfigUnguarded(data []byte) (Format, image.Config, error) {
	return config(data, func(fn func() error) error { return fn() })
}

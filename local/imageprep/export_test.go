package imageprep

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

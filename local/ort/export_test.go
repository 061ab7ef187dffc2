//go:build cgo

package ort

// ProbeGraph and ProbeInput expose the CUDA probe's graph to the tests,
// which check it on the CPU.
var (
	ProbeGraph    = probeGraph
	ProbeInput    = probeInput
	IsOutOfMemory = isOutOfMemory
)

// PretendGPU makes the auto fallback see a machine with a GPU (and forget
// that it warned), until the returned function is called.
func PretendGPU() (restore func()) {
	prev := hasGPU
	hasGPU = func() bool { return true }
	env.Lock()
	env.warned = false
	env.Unlock()
	return func() { hasGPU = prev }
}

package ort

// ProbeGraph and ProbeInput expose the CUDA probe's graph to the tests,
// which check it on the CPU.
var (
	ProbeGraph    = probeGraph
	ProbeInput    = probeInput
	IsOutOfMemory = isOutOfMemory
)

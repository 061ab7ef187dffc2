package imageprep

// SetSIMD turns the AVX2 resampling kernels on or off (where the CPU has
// them) and returns the previous setting.
func SetSIMD(on bool) bool {
	prev := useSIMD
	useSIMD = on && haveSIMD
	return prev
}

// HasSIMD reports whether this CPU and build have the AVX2 kernels.
func HasSIMD() bool { return haveSIMD }

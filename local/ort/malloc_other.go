//go:build cgo && !linux

package ort

// pinMallocThreshold is glibc's concern (see malloc_linux.go); other
// systems' allocators are left as they are.
func pinMallocThreshold() {}

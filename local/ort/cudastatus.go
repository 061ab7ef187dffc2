package ort

import (
	"errors"
	"strings"

	"github.com/hybridembed/hybridembed/local/ort/cuda"
)

// CUDAStatus is what preparing CUDA found on this machine.
type CUDAStatus struct {
	Runtime RuntimeInfo
	// Devices is what the NVIDIA driver reports (no GPUs on a machine
	// without one).
	Devices cuda.Devices
	// Libraries are the CUDA libraries the provider needs, where they were
	// found and whether they loaded; nil when preparation stopped before
	// (a CPU build, no GPU).
	Libraries *cuda.Report
	// Err is why the CUDA provider cannot be registered (wrapping
	// [ErrCUDAUnavailable]), with what fixes it; nil when it can be.
	Err error
}

// ErrOutOfMemory is returned (wrapped) by [Session.Run] when the device ran
// out of memory for the batch: the same inputs in smaller batches may fit.
var ErrOutOfMemory = errors.New("out of device memory")

// isOutOfMemory recognises ONNX Runtime's out-of-memory failures: CUDA's
// (cudaErrorMemoryAllocation, "CUDA failure 2: out of memory"), cuBLAS's
// and cuDNN's allocation statuses, and its arena's
// ("Failed to allocate memory for requested buffer of size ...").
func isOutOfMemory(err error) bool {
	s := strings.ToLower(err.Error())
	for _, m := range []string{"out of memory", "failed to allocate memory", "cublas_status_alloc_failed", "cudnn_status_alloc_failed", "cudaerrormemoryallocation"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// deviceWide reports whether a CUDA session that failed to open failed for
// reasons of the device or its libraries (the driver, cuDNN, cuBLAS, no
// usable GPU), which every model would meet, rather than of the model (an
// operator without a CUDA kernel).
func deviceWide(err error) bool {
	s := strings.ToLower(err.Error())
	for _, m := range []string{"cudnn", "cublas", "driver version", "cuda driver", "no cuda-capable device", "cudaerrornodevice",
		"cudaerrorinsufficientdriver", "cudaerrorinitializationerror", "cuda_error_no_device", "libcudart", "libcublas", "libcudnn"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

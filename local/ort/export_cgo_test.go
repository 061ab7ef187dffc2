//go:build cgo

package ort

import onnx "github.com/yalue/onnxruntime_go"

// PretendCUDA makes CUDA look ready to sessions (prepared, the provider
// registered) on a machine without it, and opens each "CUDA" session with
// open: where open returns an error, that is what ONNX Runtime's CUDA
// provider said for that model; where it returns nil, the session opens
// (on the CPU, the only provider here) and reports CUDA. It forgets what
// was remembered about CUDA, until the returned function is called.
func PretendCUDA(open func(path string) error) (restore func()) {
	prevPrep, prevAppend, prevOpen := prepareCUDAHook, appendCUDAHook, openCUDAHook
	prepareCUDAHook = func() CUDAStatus { return CUDAStatus{} }
	appendCUDAHook = func(*onnx.SessionOptions, int, int64) error { return nil }
	openCUDAHook = func(path string, in, out []string, so *onnx.SessionOptions) (*onnx.DynamicAdvancedSession, error) {
		if err := open(path); err != nil {
			return nil, err
		}
		return onnx.NewDynamicAdvancedSession(path, in, out, so)
	}
	forget := func() {
		env.Lock()
		env.cudaFailed, env.warnedModels = nil, nil
		env.Unlock()
	}
	forget()
	return func() {
		prepareCUDAHook, appendCUDAHook, openCUDAHook = prevPrep, prevAppend, prevOpen
		forget()
	}
}

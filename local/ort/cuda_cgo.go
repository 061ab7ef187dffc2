//go:build cgo

package ort

import (
	"context"
	"errors"
	"fmt"
	"math"

	onnx "github.com/yalue/onnxruntime_go"

	"github.com/hybridembed/hybridembed/local/ort/cuda"
)

// Runtime describes the loaded library. It needs [Init] first.
func Runtime() (RuntimeInfo, error) {
	env.Lock()
	lib, source := env.library, env.source
	env.Unlock()
	if lib == "" {
		return RuntimeInfo{}, errors.New("ort: Runtime before Init")
	}
	return runtimeInfo(lib, source, onnx.GetVersion()), nil
}

// PrepareCUDA readies this process for the CUDA provider, once: it checks
// that the loaded runtime is a CUDA build and that the driver reports a
// GPU, then finds the CUDA and cuDNN libraries the provider needs (on the
// loader path, under $CUDA_HOME or $CUDA_PATH, in Python's nvidia-* wheels)
// and loads them. Later calls return the first call's result. It needs
// [Init] first.
func PrepareCUDA() CUDAStatus {
	env.Lock()
	defer env.Unlock()
	if env.prep != nil {
		return *env.prep
	}
	if env.library == "" {
		return CUDAStatus{Err: fmt.Errorf("%w: ONNX Runtime is not loaded", ErrCUDAUnavailable)}
	}
	st := prepareCUDA(runtimeInfo(env.library, env.source, onnx.GetVersion()))
	env.prep = &st
	return st
}

func prepareCUDA(info RuntimeInfo) CUDAStatus {
	st := CUDAStatus{Runtime: info}
	if info.CUDAProvider == "" {
		st.Err = fmt.Errorf("%w: %s is ONNX Runtime's CPU build (no %s beside it); install the CUDA build with %s, or point %s at one",
			ErrCUDAUnavailable, info.Library, cudaProviderFile, InstallGPUHint, EnvLibrary)
		return st
	}
	st.Devices = cuda.Probe()
	if len(st.Devices.GPUs) == 0 {
		why := st.Devices.Error
		if why == "" {
			why = "the driver reports no GPU"
		}
		st.Err = fmt.Errorf("%w: no usable NVIDIA GPU: %s (install the NVIDIA driver, or in a container run it with the GPU, e.g. `docker run --gpus all`; `nvidia-smi` should list it)", ErrCUDAUnavailable, why)
		return st
	}
	rep, err := cuda.Inspect(info.CUDAProvider, cuda.Env{})
	if err != nil {
		st.Err = fmt.Errorf("%w: reading what the CUDA provider needs: %w", ErrCUDAUnavailable, err)
		return st
	}
	err = cuda.Load(&rep)
	st.Libraries = &rep
	if err != nil {
		st.Err = fmt.Errorf("%w: %w", ErrCUDAUnavailable, err)
	}
	return st
}

// ProbeCUDA opens a one-convolution graph (so cuDNN runs too) on the CUDA
// provider and checks its output: what proves that CUDA works here, beyond
// the libraries loading (a GPU the build has no kernels for fails here).
func ProbeCUDA(ctx context.Context, device int) error {
	if st := PrepareCUDA(); st.Err != nil {
		return st.Err
	}
	so, err := onnx.NewSessionOptions()
	if err != nil {
		return err
	}
	defer so.Destroy()
	if err := appendCUDA(so, device, 0); err != nil {
		return fmt.Errorf("%w: registering the CUDA provider: %w", ErrCUDAUnavailable, err)
	}
	model, want := probeGraph()
	sess, err := onnx.NewDynamicAdvancedSessionWithONNXData(model, []string{"x"}, []string{"y"}, so)
	if err != nil {
		return fmt.Errorf("%w: a CUDA session: %w", ErrCUDAUnavailable, err)
	}
	defer sess.Destroy()
	x, err := onnx.NewTensor(onnx.NewShape(1, 3, 4, 4), probeInput())
	if err != nil {
		return err
	}
	defer x.Destroy()
	y, err := onnx.NewEmptyTensor[float32](onnx.NewShape(1, 2, 4, 4))
	if err != nil {
		return err
	}
	defer y.Destroy()
	if err := sess.Run([]onnx.Value{x}, []onnx.Value{y}); err != nil {
		return fmt.Errorf("%w: a convolution on the GPU: %w", ErrCUDAUnavailable, err)
	}
	for i, v := range y.GetData() {
		if math.Abs(float64(v-want[i])) > 1e-3 {
			return fmt.Errorf("%w: a convolution on the GPU gave %v at %d, want %v", ErrCUDAUnavailable, v, i, want[i])
		}
	}
	return ctx.Err()
}

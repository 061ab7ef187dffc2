//go:build cgo

package ort

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	onnx "github.com/yalue/onnxruntime_go"

	"github.com/hybridembed/hybridembed/internal/filever"
)

// env is the process-wide ONNX Runtime environment: the loaded library and
// what we learned about CUDA on this machine.
var env struct {
	sync.Mutex
	library string      // path or soname that loaded; "" until Init succeeds
	source  string      // where it was found ($ONNXRUNTIME_LIB=..., the cache path, the system loader path)
	prep    *CUDAStatus // what PrepareCUDA found (nil until it ran)
	// cudaFailed is why CUDA could not be used, per device or per model
	// on a device (see cudaScope).
	cudaFailed   map[cudaScope]error
	warned       bool            // the auto-fallback warning was given
	warnedModels map[string]bool // models CUDA could not open that were warned of
}

// Init loads the ONNX Runtime library and creates the environment. It is
// safe to call many times and from many goroutines: the first success wins
// and later calls return the library already loaded, whatever they ask for
// (ONNX Runtime cannot be loaded twice into one process).
func Init(cfg Config) (string, error) {
	env.Lock()
	defer env.Unlock()
	if env.library != "" {
		return env.library, nil
	}
	// Before the library allocates anything.
	pinMallocThreshold()
	var tried []attempt
	for _, c := range cfg.candidates() {
		if !c.system {
			if st, err := os.Stat(c.path); err != nil {
				tried = append(tried, attempt{c.label, "no such file"})
				if c.explicit {
					return "", &LoadError{tried: tried, err: ErrRuntimeUnusable}
				}
				continue
			} else if st.IsDir() {
				tried = append(tried, attempt{c.label, "a directory, not the library file"})
				if c.explicit {
					return "", &LoadError{tried: tried, err: ErrRuntimeUnusable}
				}
				continue
			}
		}
		onnx.SetSharedLibraryPath(c.path)
		if err := onnx.InitializeEnvironment(onnx.WithLogLevelError()); err != nil {
			why := err.Error()
			if c.system && strings.Contains(why, "cannot open shared object file") {
				why = "not found"
			}
			tried = append(tried, attempt{c.label, why})
			if c.explicit {
				return "", &LoadError{tried: tried, err: ErrRuntimeUnusable}
			}
			continue
		}
		env.library, env.source = c.path, c.label
		return c.path, nil
	}
	return "", &LoadError{tried: tried, err: ErrRuntimeNotFound}
}

// Loaded reports the library Init loaded, or "" before that.
func Loaded() string {
	env.Lock()
	defer env.Unlock()
	return env.library
}

// Version is the loaded ONNX Runtime's version string.
func Version() string {
	if Loaded() == "" {
		return ""
	}
	return onnx.GetVersion()
}

func convertInfo(in []onnx.InputOutputInfo) []IOInfo {
	out := make([]IOInfo, len(in))
	for i, x := range in {
		out[i] = IOInfo{Name: x.Name, Shape: append([]int64(nil), x.Dimensions...), Tensor: x.OrtValueType == onnx.ONNXTypeTensor}
		switch x.DataType {
		case onnx.TensorElementDataTypeFloat:
			out[i].Type = TypeFloat32
		case onnx.TensorElementDataTypeFloat16:
			out[i].Type = TypeFloat16
		case onnx.TensorElementDataTypeInt64:
			out[i].Type = TypeInt64
		case onnx.TensorElementDataTypeInt32:
			out[i].Type = TypeInt32
		case onnx.TensorElementDataTypeUint8:
			out[i].Type = TypeUint8
		}
	}
	return out
}

// ReadInfo lists the inputs and outputs a model file declares. It needs
// [Init] first. Loading a file that is not an ONNX model fails here, with
// ONNX Runtime's reason. What it read is kept per file version (path,
// size, modification time), so that [NewSession] of a graph whose
// signature was read first does not load the model twice more.
func ReadInfo(path string) (inputs, outputs []IOInfo, err error) {
	if Loaded() == "" {
		return nil, nil, errors.New("ort: ReadInfo before Init")
	}
	st, statErr := os.Stat(path)
	if statErr == nil {
		if v, ok := infoMemo.Load(path); ok {
			if e := v.(infoEntry); e.version == filever.Of(st) {
				return cloneInfo(e.inputs), cloneInfo(e.outputs), nil
			}
		}
	}
	// ONNX Runtime reads signatures only from a session, which loads the
	// whole model: skip what only inference needs (graph optimisation,
	// and prepacking, which copies every weight once more).
	so, err := onnx.NewSessionOptions()
	if err != nil {
		return nil, nil, fmt.Errorf("session options: %w", err)
	}
	defer so.Destroy()
	if err := so.SetGraphOptimizationLevel(onnx.GraphOptimizationLevelDisableAll); err != nil {
		return nil, nil, fmt.Errorf("session options: %w", err)
	}
	if err := so.SetIntraOpNumThreads(1); err != nil {
		return nil, nil, fmt.Errorf("session options: %w", err)
	}
	if err := so.AddSessionConfigEntry("session.disable_prepacking", "1"); err != nil {
		return nil, nil, fmt.Errorf("session options: %w", err)
	}
	in, out, err := onnx.GetInputOutputInfoWithOptions(path, so)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: not a usable ONNX model: %w", path, err)
	}
	inputs, outputs = convertInfo(in), convertInfo(out)
	if statErr == nil {
		infoMemo.Store(path, infoEntry{version: filever.Of(st), inputs: cloneInfo(inputs), outputs: cloneInfo(outputs)})
	}
	return inputs, outputs, nil
}

// infoMemo is ReadInfo's: path -> infoEntry, the last version read.
var infoMemo sync.Map

type infoEntry struct {
	version         filever.Version
	inputs, outputs []IOInfo
}

func cloneInfo(in []IOInfo) []IOInfo {
	out := make([]IOInfo, len(in))
	for i, x := range in {
		out[i] = x
		out[i].Shape = append([]int64(nil), x.Shape...)
	}
	return out
}

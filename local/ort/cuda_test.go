//go:build cgo

package ort_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
	"github.com/hybridembed/hybridembed/models/layout"
)

// TestProbeGraphOnCPU checks the hand-written ONNX graph that ProbeCUDA
// runs on the GPU: ONNX Runtime loads it and computes what it must.
func TestProbeGraphOnCPU(t *testing.T) {
	orttest.Init(t)
	model, want := ort.ProbeGraph()
	path := filepath.Join(t.TempDir(), "probe.onnx")
	require.NoError(t, os.WriteFile(path, model, 0o644))
	s, err := ort.NewSession(path, []string{"x"}, []string{"y"}, ort.SessionOptions{Device: ort.DeviceCPU, Threads: 1})
	require.NoError(t, err)
	defer s.Close()
	out, err := s.Run(context.Background(), []ort.Tensor{{Shape: []int64{1, 3, 4, 4}, Float32: ort.ProbeInput()}}, nil)
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2, 4, 4}, out[0].Shape)
	assert.InDeltaSlice(t, want, out[0].Float32, 1e-5)
}

func TestRuntimeInfo(t *testing.T) {
	orttest.Init(t)
	info, err := ort.Runtime()
	require.NoError(t, err)
	assert.NotEmpty(t, info.Version)
	assert.True(t, filepath.IsAbs(info.Library), "the loaded file, resolved: %s", info.Library)
	assert.NotEmpty(t, info.Source)
	assert.Contains(t, info.Providers, "CPUExecutionProvider")
	_, err = os.Stat(filepath.Join(filepath.Dir(info.Library), "libonnxruntime_providers_cuda.so"))
	assert.Equal(t, err == nil, info.Build() == "cuda", "the build is told by the CUDA provider beside the library")
}

// TestCUDAOnCPUBuildNamesTheFix: asking a CPU build for CUDA says it is a
// CPU build and what installs the CUDA one, not ONNX Runtime's provider
// bridge error about a library it could not open.
func TestCUDAOnCPUBuildNamesTheFix(t *testing.T) {
	orttest.Init(t)
	if info, _ := ort.Runtime(); info.Build() != "cpu" {
		t.Skip("the loaded ONNX Runtime is a CUDA build")
	}
	model := "../../testdata/models/tiny-clip/onnx/vision_model.onnx"
	_, err := ort.NewSession(model, []string{"pixel_values"}, []string{"image_embeds"}, ort.SessionOptions{Device: ort.DeviceCUDA})
	require.ErrorIs(t, err, ort.ErrCUDAUnavailable)
	assert.Contains(t, err.Error(), "CPU build")
	assert.Contains(t, err.Error(), "scripts/install-onnxruntime.sh --gpu")
	assert.NotContains(t, err.Error(), "Failed to load library", "ONNX Runtime's raw provider-bridge error")
	assert.Equal(t, 1, strings.Count(err.Error(), ort.ErrCUDAUnavailable.Error()), "said once: %v", err)
	st := ort.PrepareCUDA()
	assert.ErrorIs(t, st.Err, ort.ErrCUDAUnavailable)
	assert.Nil(t, st.Libraries)
}

// TestUnusableLibraryIsAnError: $ONNXRUNTIME_LIB set to something that is
// not a usable library is an error naming it, never silently replaced by
// the cache's build. Each case runs in a child process, since a process
// loads one runtime.
func TestUnusableLibraryIsAnError(t *testing.T) {
	if os.Getenv("ORT_TEST_CHILD") != "" {
		_, err := ort.Init(ort.Config{CacheDir: layout.HomeDir()})
		if err != nil {
			os.Stdout.WriteString("ERR " + err.Error())
			os.Exit(0)
		}
		os.Stdout.WriteString("LOADED " + ort.Loaded())
		os.Exit(0)
	}
	orttest.Init(t) // the cache has a runtime that would load
	notLib := filepath.Join(t.TempDir(), "libonnxruntime.so")
	require.NoError(t, os.WriteFile(notLib, []byte("not a shared object"), 0o644))
	for _, tc := range []struct{ name, value, why string }{
		{"missing", filepath.Join(t.TempDir(), "nope", "libonnxruntime.so"), "no such file"},
		{"a directory", t.TempDir(), "a directory"},
		{"not a library", notLib, notLib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestUnusableLibraryIsAnError$")
			cmd.Env = append(os.Environ(), "ORT_TEST_CHILD=1", ort.EnvLibrary+"="+tc.value)
			out, err := cmd.Output()
			require.NoError(t, err, "%s", out)
			got := string(out)
			require.True(t, strings.HasPrefix(got, "ERR "), "loaded something else: %s", got)
			assert.Contains(t, got, "$ONNXRUNTIME_LIB="+tc.value)
			assert.Contains(t, got, tc.why)
			assert.Contains(t, got, "unset it")
		})
	}
}

func TestOutOfMemoryIsRecognised(t *testing.T) {
	for msg, want := range map[string]bool{
		"CUDA failure 2: out of memory ; GPU=0 ; hostname=x ; file=cuda_allocator.cc":                         true,
		"Failed to allocate memory for requested buffer of size 4718592000":                                   true,
		"CUBLAS failure 3: CUBLAS_STATUS_ALLOC_FAILED ; GPU=0":                                                true,
		"CUDNN failure 4: CUDNN_STATUS_INTERNAL_ERROR":                                                        false,
		"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: pixel_values":          false,
		"CUDA error cudaErrorNoKernelImageForDevice:no kernel image is available for execution on the device": false,
	} {
		assert.Equal(t, want, ort.IsOutOfMemory(errors.New(msg)), msg)
	}
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// TestCUDAMatchesCPU runs the fp32 and fp16 vision towers on CUDA and on
// the CPU over the same pixels: cosine at least 0.9999 (fp32) and 0.999
// (fp16) per image.
func TestCUDAMatchesCPU(t *testing.T) {
	orttest.InitCUDA(t)
	require.NoError(t, ort.ProbeCUDA(context.Background(), 0))
	shape := []int64{8, 3, 224, 224}
	px := synthPixels(shape)
	for _, tc := range []struct {
		file string
		min  float64
	}{{"vision_model.onnx", 0.9999}, {"vision_model_fp16.onnx", 0.999}} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("../../testdata/models/tiny-clip/onnx", tc.file)
			run := func(dev ort.Device) []float32 {
				s, err := ort.NewSession(path, []string{"pixel_values"}, []string{"image_embeds"}, ort.SessionOptions{Device: dev})
				require.NoError(t, err)
				defer s.Close()
				require.Equal(t, dev, s.Provider())
				out, err := s.Run(context.Background(), []ort.Tensor{{Shape: shape, Float32: px}}, [][]int64{{shape[0], 32}})
				require.NoError(t, err)
				return out[0].Float32
			}
			cpu, gpu := run(ort.DeviceCPU), run(ort.DeviceCUDA)
			worst := 1.0
			for i := range int(shape[0]) {
				worst = math.Min(worst, cosine(cpu[i*32:(i+1)*32], gpu[i*32:(i+1)*32]))
			}
			t.Logf("%s: min cosine CPU vs CUDA %.7f", tc.file, worst)
			assert.GreaterOrEqual(t, worst, tc.min)
		})
	}
}

// TestCUDAOutOfMemoryIsAnError: a batch far beyond a small memory arena
// fails with ErrOutOfMemory (or fits), never crashes, and the session
// still runs a batch that fits afterwards.
func TestCUDAOutOfMemoryIsAnError(t *testing.T) {
	orttest.InitCUDA(t)
	path := "../../testdata/models/tiny-clip/onnx/vision_model.onnx"
	s, err := ort.NewSession(path, []string{"pixel_values"}, []string{"image_embeds"}, ort.SessionOptions{Device: ort.DeviceCUDA, GPUMemLimit: 64 << 20})
	require.NoError(t, err)
	defer s.Close()
	huge := []int64{1024, 3, 224, 224} // 616 MB of pixels against a 64 MB arena
	_, err = s.Run(context.Background(), []ort.Tensor{{Shape: huge, Float32: make([]float32, 1024*3*224*224)}}, [][]int64{{1024, 32}})
	require.Error(t, err, "1024 images in a 64 MB arena")
	assert.ErrorIs(t, err, ort.ErrOutOfMemory)
	t.Logf("huge batch: %v", err)
	small := []int64{2, 3, 224, 224}
	out, err := s.Run(context.Background(), []ort.Tensor{{Shape: small, Float32: synthPixels(small)}}, [][]int64{{2, 32}})
	require.NoError(t, err, "the session runs a batch that fits after the failure")
	assert.Len(t, out[0].Float32, 64)
}

// TestAutoFallbackWithGPUWarns: where the machine has a GPU, "auto" running
// on the CPU is said at normal verbosity (Warnf), once per process, never
// silently; later sessions note it at the quiet level.
func TestAutoFallbackWithGPUWarns(t *testing.T) {
	orttest.Init(t)
	if st := ort.PrepareCUDA(); st.Err == nil {
		t.Skip("CUDA works here: auto does not fall back")
	}
	defer ort.PretendGPU()()
	var warns, notes []string
	opts := ort.SessionOptions{Device: ort.DeviceAuto,
		Warnf: func(f string, a ...any) { warns = append(warns, fmt.Sprintf(f, a...)) },
		Logf:  func(f string, a ...any) { notes = append(notes, fmt.Sprintf(f, a...)) }}
	model := "../../testdata/models/tiny-clip/onnx/vision_model.onnx"
	for range 2 {
		s, err := ort.NewSession(model, []string{"pixel_values"}, []string{"image_embeds"}, opts)
		require.NoError(t, err)
		assert.Equal(t, ort.DeviceCPU, s.Provider())
		s.Close()
	}
	require.Len(t, warns, 1, "warned once: %v", warns)
	assert.Contains(t, warns[0], "GPU but models run on the CPU")
	assert.Contains(t, warns[0], "hybridembed doctor")
	assert.Contains(t, warns[0], ort.ErrCUDAUnavailable.Error(), "with the reason")
	assert.Len(t, notes, 1, "the second session notes it quietly")
}

// TestCUDAReasonSaidOnce: the second model asking for CUDA gets the same
// reason, said once, not wrapped again.
func TestCUDAReasonSaidOnce(t *testing.T) {
	orttest.Init(t)
	if st := ort.PrepareCUDA(); st.Err == nil {
		t.Skip("CUDA works here")
	}
	model := "../../testdata/models/tiny-clip/onnx/vision_model.onnx"
	for range 2 {
		_, err := ort.NewSession(model, []string{"pixel_values"}, []string{"image_embeds"}, ort.SessionOptions{Device: ort.DeviceCUDA})
		require.ErrorIs(t, err, ort.ErrCUDAUnavailable)
		assert.Equal(t, 1, strings.Count(err.Error(), ort.ErrCUDAUnavailable.Error()), "%v", err)
	}
}

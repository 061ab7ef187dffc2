package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/doctor"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/ort/cuda"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

// TestDoctorOnCPUOnlyMachine: on a machine with no GPU and the CPU build,
// doctor --json says CUDA is unavailable, why, and what installs the CUDA
// build; lists the CUDA libraries that build needs, each found or missing;
// and --device auto runs on the CPU without that being a problem, while
// --device cuda is one, with the fix.
func TestDoctorOnCPUOnlyMachine(t *testing.T) {
	orttest.Init(t)
	if cuda.HasGPU() {
		t.Skip("this machine has a GPU")
	}
	if info, _ := ort.Runtime(); info.Build() != "cpu" {
		t.Skip("the loaded ONNX Runtime is a CUDA build")
	}
	res := runCLI(t, "", "doctor", "--json")
	require.Equal(t, 0, res.code, res.stderr)
	var r doctor.Report
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &r), res.stdout)
	assert.Equal(t, "cpu", r.Runtime.Build)
	assert.NotEmpty(t, r.Runtime.Version)
	assert.NotEmpty(t, r.Runtime.Library)
	assert.Empty(t, r.GPUs.GPUs)
	assert.Contains(t, r.GPUs.Error, "libcuda.so.1", "why no GPU is listed")
	assert.False(t, r.CUDA.Available)
	assert.Contains(t, r.CUDA.Reason, "CPU build")
	assert.Contains(t, r.CUDA.Fix, "scripts/install-onnxruntime.sh --gpu")
	var names []string
	for _, l := range r.CUDA.Libraries {
		names = append(names, l.Name)
		if !l.Found() {
			assert.NotEmpty(t, l.Pip, "%s: what installs it", l.Name)
		}
	}
	assert.Equal(t, []string{"libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcudart.so.13", "libcudnn.so.9"}, names)
	assert.Equal(t, "auto", r.Device.Requested)
	assert.Equal(t, "cpu", r.Device.Runs)
	assert.NotEmpty(t, r.JPEG.Decoder)
	if err := imageprep.Available(imageprep.HEIF); err != nil {
		// A machine without libheif: that is the one problem, with its fix.
		require.Len(t, r.Problems, 1, "%+v", r.Problems)
		assert.Contains(t, r.Problems[0].Fix, "scripts/install-libheif.sh")
		assert.Equal(t, err.Error(), r.HEIF.HEIC)
	} else {
		assert.Empty(t, r.Problems, "no GPU, auto on the CPU: nothing to fix")
		assert.Equal(t, "ok", r.HEIF.HEIC)
		assert.NotEmpty(t, r.HEIF.Version)
	}

	res = runCLI(t, "", "doctor", "--device", "cuda")
	assert.Equal(t, 1, res.code)
	assert.Contains(t, res.stdout, "CUDA\n  unavailable: ")
	assert.Contains(t, res.stdout, "fix: install ONNX Runtime's CUDA build: `scripts/install-onnxruntime.sh --gpu`")
	assert.Contains(t, res.stdout, "libcublas.so.13")
}

// TestDoctorChild runs doctor in a process of its own (a process loads one
// ONNX Runtime), for TestDoctorUnusableLibrary.
func TestDoctorChild(t *testing.T) {
	if os.Getenv("HYBRIDEMBED_DOCTOR_CHILD") == "" {
		t.Skip("run by TestDoctorUnusableLibrary")
	}
	os.Exit(run(context.Background(), []string{"doctor"}, os.Stdin, os.Stdout, os.Stderr))
}

// TestDoctorUnusableLibrary: an ONNXRUNTIME_LIB that points at nothing is a
// problem doctor names, with the fix, not a silent switch to the cache's
// build.
func TestDoctorUnusableLibrary(t *testing.T) {
	orttest.Init(t)
	bad := filepath.Join(t.TempDir(), "libonnxruntime.so")
	cmd := exec.Command(os.Args[0], "-test.run=^TestDoctorChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HYBRIDEMBED_DOCTOR_CHILD=1", "ONNXRUNTIME_LIB="+bad)
	out, err := cmd.Output()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, string(out), "$ONNXRUNTIME_LIB="+bad+": no such file")
	assert.Contains(t, string(out), "fix: point ONNXRUNTIME_LIB at libonnxruntime's file, or unset it")
	assert.False(t, strings.Contains(string(out), "version "), "no runtime loaded from elsewhere:\n%s", out)
}

//go:build cgo

package ort_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

// TestCUDASessionFailureIsPerModel: a model CUDA cannot open (an operator
// it has no kernel for) runs on the CPU under "auto", with ONNX Runtime's
// own reason kept (errors.Is reaches it) and said; the next model still
// gets the GPU, and the failing one is not retried for every session.
func TestCUDASessionFailureIsPerModel(t *testing.T) {
	orttest.Init(t)
	const dir = "../../testdata/models/tiny-clip/onnx/"
	vision, text := dir+"vision_model.onnx", dir+"text_model.onnx"
	noKernel := errors.New("Could not find an implementation for Gelu(1) node with name 'gelu'")
	opened := map[string]int{}
	defer ort.PretendGPU()()
	defer ort.PretendCUDA(func(path string) error {
		opened[path]++
		if path == vision {
			return noKernel
		}
		return nil
	})()
	var warns, notes []string
	opts := ort.SessionOptions{Device: ort.DeviceAuto,
		Warnf: func(f string, a ...any) { warns = append(warns, fmt.Sprintf(f, a...)) },
		Logf:  func(f string, a ...any) { notes = append(notes, fmt.Sprintf(f, a...)) }}

	for range 2 {
		s, err := ort.NewSession(vision, []string{"pixel_values"}, []string{"image_embeds"}, opts)
		require.NoError(t, err)
		assert.Equal(t, ort.DeviceCPU, s.Provider(), "the model CUDA cannot open runs on the CPU")
		require.NoError(t, s.Close())
	}
	assert.Equal(t, 1, opened[vision], "its CUDA failure is remembered for that model")
	require.Len(t, warns, 1, "warned once: %v", warns)
	assert.Contains(t, warns[0], vision, "the warning names the model")
	assert.Contains(t, warns[0], noKernel.Error(), "and says ONNX Runtime's reason")
	assert.NotContains(t, warns[0], "models run on the CPU", "other models do not")

	s, err := ort.NewSession(text, []string{"input_ids"}, []string{"text_embeds"}, opts)
	require.NoError(t, err)
	assert.Equal(t, ort.DeviceCUDA, s.Provider(), "another model still gets CUDA")
	require.NoError(t, s.Close())

	opts.Device = ort.DeviceCUDA
	_, err = ort.NewSession(vision, []string{"pixel_values"}, []string{"image_embeds"}, opts)
	require.ErrorIs(t, err, ort.ErrCUDAUnavailable)
	require.ErrorIs(t, err, noKernel, "the cause is wrapped, not flattened: %v", err)
	assert.Equal(t, 1, strings.Count(err.Error(), ort.ErrCUDAUnavailable.Error()), "%v", err)
	assert.Equal(t, 1, strings.Count(err.Error(), vision), "%v", err)
}

// TestCUDAOutOfMemoryAtLoadIsNotRemembered: a GPU too full to open a model
// now may have room at its next load, so that model falls back once and
// gets CUDA when it is opened again.
func TestCUDAOutOfMemoryAtLoadIsNotRemembered(t *testing.T) {
	orttest.Init(t)
	const text = "../../testdata/models/tiny-clip/onnx/text_model.onnx"
	full := true
	defer ort.PretendGPU()()
	defer ort.PretendCUDA(func(string) error {
		if full {
			return errors.New("CUDA failure 2: out of memory ; GPU=0")
		}
		return nil
	})()
	opts := ort.SessionOptions{Device: ort.DeviceAuto, Warnf: func(string, ...any) {}}
	s, err := ort.NewSession(text, []string{"input_ids"}, []string{"text_embeds"}, opts)
	require.NoError(t, err)
	assert.Equal(t, ort.DeviceCPU, s.Provider(), "a full GPU: the CPU, this time")
	require.NoError(t, s.Close())
	full = false
	s, err = ort.NewSession(text, []string{"input_ids"}, []string{"text_embeds"}, opts)
	require.NoError(t, err)
	assert.Equal(t, ort.DeviceCUDA, s.Provider(), "room again: CUDA")
	require.NoError(t, s.Close())
}

// TestCUDADeviceFailureAtOpenIsDeviceWide: a session that fails to open
// for the device's reasons (cuDNN, the driver) turns CUDA off for every
// model on that GPU, with the machine-wide warning once, not once a model.
func TestCUDADeviceFailureAtOpenIsDeviceWide(t *testing.T) {
	orttest.Init(t)
	const dir = "../../testdata/models/tiny-clip/onnx/"
	vision, text := dir+"vision_model.onnx", dir+"text_model.onnx"
	opened := 0
	defer ort.PretendGPU()()
	defer ort.PretendCUDA(func(string) error {
		opened++
		return errors.New("CUDNN failure 4: CUDNN_STATUS_INTERNAL_ERROR ; GPU=0")
	})()
	var warns []string
	opts := ort.SessionOptions{Device: ort.DeviceAuto, Warnf: func(f string, a ...any) { warns = append(warns, fmt.Sprintf(f, a...)) }}
	for _, p := range []string{vision, text} {
		in, out := "pixel_values", "image_embeds"
		if p == text {
			in, out = "input_ids", "text_embeds"
		}
		s, err := ort.NewSession(p, []string{in}, []string{out}, opts)
		require.NoError(t, err)
		assert.Equal(t, ort.DeviceCPU, s.Provider())
		require.NoError(t, s.Close())
	}
	assert.Equal(t, 1, opened, "the second model does not pay for the same failure")
	require.Len(t, warns, 1, "%v", warns)
	assert.NotContains(t, warns[0], "other models still use the GPU")
	assert.Contains(t, warns[0], "CUDNN_STATUS_INTERNAL_ERROR")
}

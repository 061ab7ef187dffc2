package ort_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

func TestFloat16RoundTrip(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{0, 0x0000},
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},
		{65520, 0x7c00}, // rounds up to +Inf
		{float32(math.Inf(-1)), 0xfc00},
		{5.960464477539063e-08, 0x0001}, // smallest subnormal
		{1.0009765625, 0x3c01},
		{1.00048828125, 0x3c00}, // tie rounds to even
		{1.00146484375, 0x3c02}, // tie rounds to even (up)
	}
	for _, tc := range tests {
		assert.Equalf(t, tc.want, ort.Float32ToFloat16(tc.in), "Float32ToFloat16(%v)", tc.in)
	}
	for h := 0; h < 0x10000; h++ {
		f := ort.Float16ToFloat32(uint16(h))
		if f != f { // NaN keeps NaN-ness, not bits
			assert.True(t, math.IsNaN(float64(ort.Float16ToFloat32(ort.Float32ToFloat16(f)))))
			continue
		}
		require.Equalf(t, uint16(h), ort.Float32ToFloat16(f), "half 0x%04x -> %v", h, f)
	}
}

// synthPixels reproduces make_fixtures.py's synth_pixels.
func synthPixels(shape []int64) []float32 {
	b, c, h, w := int(shape[0]), int(shape[1]), int(shape[2]), int(shape[3])
	out := make([]float32, 0, b*c*h*w)
	for bi := 0; bi < b; bi++ {
		for ci := 0; ci < c; ci++ {
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					out = append(out, float32(math.Sin(0.05*float64(x+2*y)+float64(ci)+0.7*float64(bi))*1.5))
				}
			}
		}
	}
	return out
}

type pixelGolden struct {
	Pixels struct {
		Shape       []int64     `json:"shape"`
		ImageEmbeds [][]float32 `json:"image_embeds"`
	} `json:"pixels"`
}

func TestSessionMatchesPyTorch(t *testing.T) {
	orttest.Init(t)
	var g pixelGolden
	raw, err := os.ReadFile("../../testdata/golden/tiny-clip.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &g))
	px := synthPixels(g.Pixels.Shape)

	for _, file := range []string{"vision_model.onnx", "vision_model_fp16.onnx", "vision_model_quantized.onnx"} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("../../testdata/models/tiny-clip/onnx", file)
			s, err := ort.NewSession(path, []string{"pixel_values"}, []string{"image_embeds"}, ort.SessionOptions{Device: ort.DeviceCPU})
			require.NoError(t, err)
			defer s.Close()
			assert.Equal(t, ort.DeviceCPU, s.Provider())

			dim := int64(len(g.Pixels.ImageEmbeds[0]))
			out, err := s.Run(context.Background(), []ort.Tensor{{Shape: g.Pixels.Shape, Float32: px}}, [][]int64{{g.Pixels.Shape[0], dim}})
			require.NoError(t, err)
			tol := 1e-5
			switch file {
			case "vision_model_fp16.onnx":
				tol = 2e-2
			case "vision_model_quantized.onnx":
				tol = 5e-2
			}
			var worst float64
			for i, want := range g.Pixels.ImageEmbeds {
				for j, v := range want {
					worst = math.Max(worst, math.Abs(float64(out[0].Float32[i*int(dim)+j]-v)))
				}
			}
			t.Logf("%s: max abs diff vs PyTorch %.2e", file, worst)
			assert.LessOrEqual(t, worst, tol)
		})
	}
}

func TestSessionErrors(t *testing.T) {
	orttest.Init(t)
	dir := t.TempDir()
	bogus := filepath.Join(dir, "model.onnx")
	require.NoError(t, os.WriteFile(bogus, []byte("this is not a protobuf"), 0o644))
	_, err := ort.NewSession(bogus, []string{"pixel_values"}, []string{"image_embeds"}, ort.SessionOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), bogus)

	model := "../../testdata/models/tiny-clip/onnx/vision_model.onnx"
	_, err = ort.NewSession(model, []string{"input_ids"}, []string{"image_embeds"}, ort.SessionOptions{})
	assert.ErrorContains(t, err, `no input named "input_ids"`)

	s, err := ort.NewSession(model, []string{"pixel_values"}, []string{"image_embeds"}, ort.SessionOptions{Device: ort.DeviceCPU})
	require.NoError(t, err)
	_, err = s.Run(context.Background(), []ort.Tensor{{Shape: []int64{1, 3, 224, 224}, Float32: make([]float32, 5)}}, nil)
	assert.ErrorContains(t, err, "needs 150528 values, got 5")
	_, err = s.Run(context.Background(), []ort.Tensor{{Shape: []int64{1, 3, 224, 224}, Int64: make([]int64, 150528)}}, nil)
	assert.ErrorContains(t, err, "cannot feed int64")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Run(ctx, []ort.Tensor{{Shape: []int64{1, 3, 224, 224}, Float32: make([]float32, 150528)}}, nil)
	assert.ErrorIs(t, err, context.Canceled)

	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	_, err = s.Run(context.Background(), []ort.Tensor{{Shape: []int64{1, 3, 224, 224}, Float32: make([]float32, 150528)}}, nil)
	assert.ErrorIs(t, err, ort.ErrClosed)
}

func TestCUDARequestedWithoutGPU(t *testing.T) {
	orttest.Init(t)
	if _, err := os.Stat("/dev/nvidia0"); err == nil {
		t.Skip("a GPU is present; this test covers machines without one")
	}
	model := "../../testdata/models/tiny-clip/onnx/vision_model.onnx"
	_, err := ort.NewSession(model, []string{"pixel_values"}, []string{"image_embeds"}, ort.SessionOptions{Device: ort.DeviceCUDA})
	require.ErrorIs(t, err, ort.ErrCUDAUnavailable)

	var notes []string
	s, err := ort.NewSession(model, []string{"pixel_values"}, []string{"image_embeds"}, ort.SessionOptions{
		Device: ort.DeviceAuto,
		Logf:   func(f string, a ...any) { notes = append(notes, f) },
	})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, ort.DeviceCPU, s.Provider())
	assert.Len(t, notes, 1, "auto logs why it fell back")
}

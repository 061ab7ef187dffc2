package local_test

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/fixtures"
	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/localtest"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/ort/orttest"
)

var cudaImages = []string{"red_circle.png", "blue_square.png", "green_triangle.jpg", "yellow_star.jpg"}

func cudaFiles(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fixtures.Fixture("images", cudaImages[i%len(cudaImages)])
	}
	return out
}

// TestCUDAEngineMatchesCPU embeds images and texts with the fp32 and fp16
// towers on CUDA and on the CPU: cosine at least 0.9999 (fp32) and 0.999
// (fp16) for every input. Skipped where CUDA is unavailable, saying why
// ($HYBRIDEMBED_REQUIRE_CUDA=1 makes that a failure).
func TestCUDAEngineMatchesCPU(t *testing.T) {
	orttest.InitCUDA(t)
	texts := []string{"a red circle", "a blue square", "a green triangle", "a yellow star", "x"}
	for _, tc := range []struct {
		variant string
		min     float64
	}{{"", 0.9999}, {"fp16", 0.999}} {
		t.Run("variant="+tc.variant, func(t *testing.T) {
			embed := func(dev ort.Device) ([][]float32, []local.TextResult) {
				e := localtest.Engine(t, local.Options{Device: dev, BatchSize: 8})
				m, err := e.Load(fixtures.Fixture("models", "tiny-clip"), tc.variant)
				require.NoError(t, err)
				got, err := m.Provider(true)
				require.NoError(t, err)
				require.Equal(t, dev, got, "the vision tower runs where asked")
				vecs, errs := embedFiles(t, m, cudaFiles(12)...)
				for _, err := range errs {
					require.NoError(t, err)
				}
				res, err := m.EmbedTexts(context.Background(), texts)
				require.NoError(t, err)
				return vecs, res
			}
			cpuImgs, cpuTxts := embed(ort.DeviceCPU)
			gpuImgs, gpuTxts := embed(ort.DeviceCUDA)
			worst := 1.0
			for i := range cpuImgs {
				worst = math.Min(worst, cosine(cpuImgs[i], gpuImgs[i]))
			}
			for i := range cpuTxts {
				worst = math.Min(worst, cosine(cpuTxts[i].Vector, gpuTxts[i].Vector))
			}
			t.Logf("variant %q: min cosine CPU vs CUDA over 12 images and %d texts: %.7f", tc.variant, len(texts), worst)
			assert.GreaterOrEqual(t, worst, tc.min)
		})
	}
}

// TestCUDAHugeBatchRunsInParts: a batch of 1024 images against a 64 MB
// memory arena runs out of GPU memory; the engine runs it in smaller parts
// and every image gets its vector (as the CPU computes it), with no crash.
func TestCUDAHugeBatchRunsInParts(t *testing.T) {
	orttest.InitCUDA(t)
	var notes []string
	e := localtest.Engine(t, local.Options{Device: ort.DeviceCUDA, BatchSize: 1024, GPUMemLimit: 64 << 20,
		Logf: func(f string, a ...any) { notes = append(notes, f) }})
	m, err := e.Load(fixtures.Fixture("models", "tiny-clip"), "")
	require.NoError(t, err)
	files := cudaFiles(1024)
	vecs, errs := embedFiles(t, m, files...)
	for i, err := range errs {
		require.NoError(t, err, "image %d", i)
	}
	cpu := localtest.Engine(t, local.Options{Device: ort.DeviceCPU})
	cm, err := cpu.Load(fixtures.Fixture("models", "tiny-clip"), "")
	require.NoError(t, err)
	want, _ := embedFiles(t, cm, files[:len(cudaImages)]...)
	for i, v := range vecs {
		assert.GreaterOrEqual(t, cosine(v, want[i%len(cudaImages)]), 0.9999, "image %d", i)
	}
	t.Logf("notes: %v", notes)
	var batches, inputs int64
	for _, st := range m.Stats() {
		batches, inputs = batches+st.Batches, inputs+st.Items
	}
	t.Logf("%d images in %d batches", inputs, batches)
}

package imageprep_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/local/imageprep"
)

// TestProcessorDefaults: what a preprocessor_config.json leaves out takes
// its image processor's defaults: SigLIP resizes straight to height x
// width with no crop (CLIP's defaults would crop to 224), bicubic unless
// resample says otherwise, mean and std 0.5.
func TestProcessorDefaults(t *testing.T) {
	p, err := imageprep.ParseProcessor([]byte(`{"image_processor_type": "SiglipImageProcessor", "resample": 2, "size": {"height": 384, "width": 384}}`))
	require.NoError(t, err)
	h, w, fixed := p.OutputSize()
	assert.True(t, fixed)
	assert.Equal(t, [2]int{384, 384}, [2]int{h, w})
	assert.False(t, p.CenterCrop)
	assert.Equal(t, imageprep.Bilinear, p.Resample)
	assert.Equal(t, [3]float32{0.5, 0.5, 0.5}, p.Mean)
	assert.Equal(t, [3]float32{0.5, 0.5, 0.5}, p.Std)
	oh, ow := p.Shape(1024, 300)
	assert.Equal(t, [2]int{384, 384}, [2]int{oh, ow}, "no aspect kept")

	p, err = imageprep.ParseProcessor([]byte(`{"image_processor_type": "SiglipImageProcessorFast"}`))
	require.NoError(t, err)
	assert.Equal(t, imageprep.Bicubic, p.Resample)
	assert.Equal(t, 224, p.Height)

	clip, err := imageprep.ParseProcessor([]byte(`{"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 224}}`))
	require.NoError(t, err)
	assert.True(t, clip.CenterCrop, "CLIP crops by default")

	_, err = imageprep.ParseProcessor([]byte(`{"image_processor_type": "Siglip2ImageProcessor", "max_num_patches": 256, "patch_size": 16}`))
	assert.True(t, errors.Is(err, imageprep.ErrNaFlex), "%v", err)
}

// TestParseOpenCLIP: immich's preprocess_cfg.json, each resize mode, and
// what it refuses.
func TestParseOpenCLIP(t *testing.T) {
	p, err := imageprep.ParseOpenCLIP([]byte(`{"size": [256, 256], "mode": "RGB", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bicubic", "resize_mode": "squash", "fill_color": 0}`))
	require.NoError(t, err)
	oh, ow := p.Shape(1000, 200)
	assert.Equal(t, [2]int{256, 256}, [2]int{oh, ow})
	assert.Equal(t, imageprep.Immich, p.Convention)

	p, err = imageprep.ParseOpenCLIP([]byte(`{"size": 224, "mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711], "interpolation": "BILINEAR"}`))
	require.NoError(t, err, "an int size, and no resize_mode: open_clip's shortest")
	assert.True(t, p.CenterCrop)
	assert.Equal(t, imageprep.Bilinear, p.Resample)
	oh, ow = p.Shape(1000, 200)
	assert.Equal(t, [2]int{224, 224}, [2]int{oh, ow})

	for name, cfg := range map[string]string{
		"unknown resize mode": `{"size": 224, "mean": [0,0,0], "std": [1,1,1], "interpolation": "bicubic", "resize_mode": "longest"}`,
		"unknown filter":      `{"size": 224, "mean": [0,0,0], "std": [1,1,1], "interpolation": "cubic"}`,
		"two means":           `{"size": 224, "mean": [0,0], "std": [1,1,1], "interpolation": "bicubic"}`,
		"zero std":            `{"size": 224, "mean": [0,0,0], "std": [1,0,1], "interpolation": "bicubic"}`,
		"grey mode":           `{"size": 224, "mode": "L", "mean": [0,0,0], "std": [1,1,1], "interpolation": "bicubic"}`,
		"no size":             `{"mean": [0,0,0], "std": [1,1,1], "interpolation": "bicubic"}`,
	} {
		_, err := imageprep.ParseOpenCLIP([]byte(cfg))
		assert.Error(t, err, name)
	}
}

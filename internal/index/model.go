package index

import (
	"context"
	"fmt"
	"image"
	"strings"

	"github.com/hybridembed/hybridembed"
)

// ImageModelInfo is m's info, for a model that embeds images (an index
// and a dataset of images need a CLIP-family model), with the vector
// size: a model whose config does not give it is asked for one image
// vector.
func ImageModelInfo(ctx context.Context, m *hybridembed.Model) (hybridembed.ModelInfo, error) {
	info := m.Info()
	if !info.Has(hybridembed.ModalityImage) {
		names := make([]string, len(info.Modalities))
		for i, mod := range info.Modalities {
			names[i] = string(mod)
		}
		return info, fmt.Errorf("model %s does not embed images (%s only): an index needs a CLIP-family model", info.Name, strings.Join(names, ", "))
	}
	if info.Dim == 0 { // config.json does not say: ask the vision tower
		v, err := m.EmbedImages(ctx, []hybridembed.Image{hybridembed.ImageValue("probe", image.NewGray(image.Rect(0, 0, 8, 8)))})
		if err != nil {
			return info, err
		}
		info.Dim = len(v[0].Vector)
	}
	return info, nil
}

// ImageModel is the identity an index keys m's vectors on (ModelOf its
// ImageModelInfo).
func ImageModel(ctx context.Context, m *hybridembed.Model) (Model, error) {
	info, err := ImageModelInfo(ctx, m)
	return ModelOf(info), err
}

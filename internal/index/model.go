package index

import (
	"context"
	"fmt"
	"image"
	"strings"

	"github.com/hybridembed/hybridembed"
)

// ImageModelInfo is m's info, for a model that embeds images (an index
// and a dataset of images need one), with the vector size: a model whose
// config does not give it is asked for one image vector. needs names what
// needs images, for the error ("embed", "an index", "the search page").
func ImageModelInfo(ctx context.Context, m *hybridembed.Model, needs string) (hybridembed.ModelInfo, error) {
	info := m.Info()
	if !info.Has(hybridembed.ModalityImage) {
		names := make([]string, len(info.Modalities))
		for i, mod := range info.Modalities {
			names[i] = string(mod)
		}
		return info, fmt.Errorf("model %s embeds %s only, not images: %s needs a model that embeds images, such as a CLIP model (openai/clip-vit-base-patch32); texts are embedded with `hybridembed text`", info.Name, strings.Join(names, ", "), needs)
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
func ImageModel(ctx context.Context, m *hybridembed.Model, needs string) (Model, error) {
	info, err := ImageModelInfo(ctx, m, needs)
	return ModelOf(info), err
}

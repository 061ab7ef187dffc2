package index

import (
	"context"
	"fmt"
	"image"
	"strings"

	"github.com/hybridembed/hybridembed"
)

// ModelOf is the identity an index keys m's vectors on. A model that does
// not embed images is refused (an index needs a CLIP-family model), and one
// whose config does not give the vector size is asked for one image
// vector.
func ModelOf(ctx context.Context, m *hybridembed.Model) (Model, error) {
	info := m.Info()
	if !info.Has(hybridembed.ModalityImage) {
		names := make([]string, len(info.Modalities))
		for i, mod := range info.Modalities {
			names[i] = string(mod)
		}
		return Model{}, fmt.Errorf("model %s does not embed images (%s only): an index needs a CLIP-family model", info.Name, strings.Join(names, ", "))
	}
	im := Model{Name: info.Name, Repo: info.Repo, Revision: info.Revision, Variant: info.Variant, Digest: info.Digest, Dim: info.Dim}
	if im.Dim == 0 { // config.json does not say: ask the vision tower
		v, err := m.EmbedImages(ctx, []hybridembed.Image{hybridembed.ImageValue("probe", image.NewGray(image.Rect(0, 0, 8, 8)))})
		if err != nil {
			return im, err
		}
		im.Dim = len(v[0].Vector)
	}
	return im, nil
}

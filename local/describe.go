package local

import "github.com/hybridembed/hybridembed/models/layout"

// Description is what a model directory holds, read from its file layout
// and config files alone, without ONNX Runtime.
type Description struct {
	Text, Image bool
	// Family is what kind of model it is (clip, siglip, siglip2, mclip,
	// sentence), which decides its preprocessing, tokenization and pooling.
	Family Family
	// Layout is how its files are laid out (transformers.js, immich,
	// model.onnx).
	Layout layout.Kind
	// Dim is the vector width the config declares (projection_dim for
	// CLIP, the text head's width for SigLIP, embed_dim in immich's
	// layout, hidden_size for a text encoder); 0 when it does not say.
	Dim int
	// Graphs are the ONNX files the model would load, absolute.
	Graphs []string
}

// Describe reads dir as [Engine.Acquire] would load it with variant,
// without loading anything. A SigLIP 2 NaFlex checkpoint is refused here
// too ([ErrNaFlex]).
func Describe(dir, variant string) (Description, error) {
	f, err := findFiles(dir, variant)
	if err != nil {
		return Description{}, err
	}
	cfg, err := readConfig(dir)
	if err != nil {
		return Description{}, err
	}
	fam, err := detectFamily(dir, cfg, f)
	if err != nil {
		return Description{}, err
	}
	d := Description{Graphs: f.Files(), Layout: f.Kind}
	d.Text = f.Text != "" || f.Single != ""
	d.Image = f.Vision != "" || f.Single != "" && fam.ImageText()
	d.Family = defaultFamily(fam, d.Image)
	m := &Model{cfg: cfg, family: d.Family}
	if f.Kind == layout.KindImmich {
		if m.openclip, err = readOpenCLIPConfig(dir); err != nil {
			return Description{}, err
		}
	}
	if d.Family.ImageText() {
		d.Dim = int(m.configDim())
	} else {
		d.Dim = cfg.text().HiddenSize
	}
	return d, nil
}

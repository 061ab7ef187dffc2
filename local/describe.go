package local

// Description is what a model directory holds, read from its file layout
// and config files alone, without ONNX Runtime.
type Description struct {
	Text, Image bool
	// Dim is the vector width the config declares (projection_dim for
	// CLIP, hidden_size for a text encoder); 0 when it does not say.
	Dim int
	// Graphs are the ONNX files the model would load, absolute.
	Graphs []string
}

// Describe reads dir as [Engine.Acquire] would load it with variant,
// without loading anything.
func Describe(dir, variant string) (Description, error) {
	f, err := findFiles(dir, variant)
	if err != nil {
		return Description{}, err
	}
	cfg, err := readConfig(dir)
	if err != nil {
		return Description{}, err
	}
	d := Description{Graphs: f.Files()}
	clip := IsCLIPFamily(cfg.ModelType)
	d.Text = f.Text != "" || f.Single != ""
	d.Image = f.Vision != "" || f.Single != "" && clip
	if clip {
		d.Dim = cfg.ProjectionDim
	} else {
		d.Dim = cfg.text().HiddenSize
	}
	return d, nil
}

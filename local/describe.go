package local

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/hybridembed/hybridembed/models/layout"
)

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
	// Files are every file the model's vectors depend on, absolute: the
	// graphs, the external data files they name, and those of the
	// configuration files the engine reads that exist (see [ConfigFiles]).
	Files []string
}

// ConfigFiles are the configuration files the engine reads from a model
// directory, besides the config.json of each module that modules.json lists
// (sentence-transformers' 1_Pooling/config.json). A change to any of them
// can change the model's vectors.
var ConfigFiles = []string{
	"config.json",                   // family, vector size, towers' limits (immich: open_clip's config)
	"preprocessor_config.json",      // image size, resampling, crop, mean and std
	"tokenizer.json",                // the tokenizer
	"tokenizer_config.json",         // model_max_length, pad token, tokenizer class (SigLIP 2's Gemma)
	"modules.json",                  // sentence-transformers' pipeline
	"sentence_bert_config.json",     // max_seq_length
	"visual/preprocess_cfg.json",    // immich: size, resize mode, interpolation, mean and std
	"textual/tokenizer.json",        // immich: the tokenizer
	"textual/tokenizer_config.json", // immich: pad token, tokenizer class
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
	if d.Files, err = dependencies(dir, d.Graphs); err != nil {
		return Description{}, err
	}
	return d, nil
}

// dependencies lists the graphs, their external data and the
// configuration files that exist.
func dependencies(dir string, graphs []string) ([]string, error) {
	files := append([]string(nil), graphs...)
	for _, g := range graphs {
		// A graph that cannot be read, or whose external data is missing,
		// is one ONNX Runtime cannot load either: no vector comes from it,
		// and its own content is among the files already.
		ext, _ := ExternalData(g)
		for _, p := range ext {
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				files = append(files, p)
			}
		}
	}
	configs := append([]string(nil), ConfigFiles...)
	mods, err := moduleConfigs(dir)
	if err != nil {
		return nil, err
	}
	configs = append(configs, mods...)
	for _, rel := range configs {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		st, err := os.Stat(p)
		switch {
		case err == nil && st.Mode().IsRegular():
			files = append(files, p)
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
	}
	return files, nil
}

// moduleConfigs are the config.json files of the modules modules.json
// lists (relative), for a directory that has one.
func moduleConfigs(dir string) ([]string, error) {
	mods, err := readModules(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range mods {
		p := strings.Trim(filepath.ToSlash(filepath.Clean(m.Path)), "/")
		if p == "" || p == "." || strings.HasPrefix(p, "../") {
			continue // the Transformer module at the top: config.json is listed already
		}
		out = append(out, p+"/config.json")
	}
	return out, nil
}

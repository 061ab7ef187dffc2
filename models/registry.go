package models

import (
	"github.com/hybridembed/hybridembed/models/layout"

	"fmt"
	"sort"
	"strings"
)

// Entry is a model hybridembed knows: which repo has its ONNX files and
// which files make a working model, per variant.
type Entry struct {
	// ID is the name users know the model by.
	ID string
	// Repo is the Hub repo holding usable ONNX files, which for models
	// published without ONNX is a conversion (transformers.js's Xenova/*).
	Repo   string
	Family layout.Family
	// Common are the files every variant needs (configs, tokenizer).
	Common []string
	// Variants maps a variant name ("fp32", "quantized", "fp16") to its
	// ONNX files.
	Variants map[string][]string
	// Dim is the embedding width.
	Dim int
}

// Files lists what a variant needs ("" means fp32).
func (e Entry) Files(variant string) ([]string, error) {
	if variant == "" {
		variant = "fp32"
	}
	v, ok := e.Variants[variant]
	if !ok {
		return nil, fmt.Errorf("%s has no variant %q (known: %s)", e.ID, variant, strings.Join(e.VariantNames(), ", "))
	}
	return append(append([]string(nil), e.Common...), v...), nil
}

// VariantNames lists the variants, sorted.
func (e Entry) VariantNames() []string {
	var names []string
	for v := range e.Variants {
		names = append(names, v)
	}
	sort.Strings(names)
	return names
}

func clipEntry(id, repo string, dim int) Entry {
	tower := func(sfx string) []string {
		return []string{"onnx/text_model" + sfx + ".onnx", "onnx/vision_model" + sfx + ".onnx"}
	}
	return Entry{
		ID: id, Repo: repo, Family: layout.FamilyCLIP, Dim: dim,
		Common: []string{"config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"},
		Variants: map[string][]string{
			"fp32": tower(""), "quantized": tower("_quantized"), "fp16": tower("_fp16"),
		},
	}
}

// siglipEntry is a SigLIP or SigLIP 2 FixRes export in the transformers.js
// layout (Xenova/siglip-*, onnx-community/siglip2-*-ONNX): the towers and
// their variants, as the repos' trees list them.
func siglipEntry(id, repo string, family layout.Family, dim int, variants ...string) Entry {
	e := Entry{
		ID: id, Repo: repo, Family: family, Dim: dim,
		Common:   []string{"config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"},
		Variants: map[string][]string{},
	}
	for _, v := range variants {
		sfx := layout.VariantSuffix(v)
		e.Variants[v] = []string{"onnx/text_model" + sfx + ".onnx", "onnx/vision_model" + sfx + ".onnx"}
	}
	return e
}

// immichEntry is one of immich's repos (immich-app/*), as immich's own
// downloader fetches it: the open_clip config.json, and everything in
// visual/ and textual/ but other formats' graphs (chooseFiles takes those
// folders whole, since large exports keep weights beside the graph).
func immichEntry(name string, family layout.Family, dim int) Entry {
	return Entry{
		ID: "immich-app/" + name, Repo: "immich-app/" + name, Family: family, Dim: dim,
		Common: []string{"config.json", "visual/preprocess_cfg.json", "textual/tokenizer.json",
			"textual/tokenizer_config.json", "textual/special_tokens_map.json"},
		Variants: map[string][]string{"fp32": {layout.ImmichTextual, layout.ImmichVisual}},
	}
}

func sentenceEntry(id string, dim int, variants map[string][]string) Entry {
	return Entry{
		ID: id, Repo: id, Family: layout.FamilySentence, Dim: dim,
		Common: []string{"config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
			"modules.json", "sentence_bert_config.json", "1_Pooling/config.json"},
		Variants: variants,
	}
}

// registry is the list of known models. Ids not listed are resolved by
// inspecting their repo's files (see Inspect).
var registry = []Entry{
	clipEntry("openai/clip-vit-base-patch32", "Xenova/clip-vit-base-patch32", 512),
	clipEntry("openai/clip-vit-base-patch16", "Xenova/clip-vit-base-patch16", 512),
	clipEntry("openai/clip-vit-large-patch14", "Xenova/clip-vit-large-patch14", 768),
	// Xenova/siglip-base-patch16-224's onnx/ lists model, text_model and
	// vision_model, each plain, _fp16 and _quantized.
	siglipEntry("google/siglip-base-patch16-224", "Xenova/siglip-base-patch16-224", layout.FamilySigLIP, 768, "fp32", "fp16", "quantized"),
	siglipEntry("google/siglip-base-patch16-256", "Xenova/siglip-base-patch16-256", layout.FamilySigLIP, 768, "fp32", "fp16", "quantized"),
	siglipEntry("google/siglip-base-patch16-384", "Xenova/siglip-base-patch16-384", layout.FamilySigLIP, 768, "fp32", "fp16", "quantized"),
	siglipEntry("google/siglip-base-patch16-512", "Xenova/siglip-base-patch16-512", layout.FamilySigLIP, 768, "fp32", "fp16", "quantized"),
	siglipEntry("google/siglip-large-patch16-256", "Xenova/siglip-large-patch16-256", layout.FamilySigLIP, 1024, "fp32", "fp16", "quantized"),
	// onnx-community/siglip2-base-patch16-224-ONNX's onnx/ has the towers
	// plain, _fp16, _quantized and _int8 (what its users download).
	siglipEntry("google/siglip2-base-patch16-224", "onnx-community/siglip2-base-patch16-224-ONNX", layout.FamilySigLIP2, 768, "fp32", "fp16", "quantized", "int8"),
	immichEntry("ViT-B-32__openai", layout.FamilyCLIP, 512),
	immichEntry("ViT-B-16__openai", layout.FamilyCLIP, 512),
	immichEntry("ViT-L-14__openai", layout.FamilyCLIP, 768),
	immichEntry("ViT-B-16-SigLIP__webli", layout.FamilySigLIP, 768),
	immichEntry("ViT-B-16-SigLIP2__webli", layout.FamilySigLIP2, 768),
	immichEntry("ViT-B-32-SigLIP2-256__webli", layout.FamilySigLIP2, 768),
	immichEntry("XLM-Roberta-Large-Vit-B-32", layout.FamilyMCLIP, 512),
	immichEntry("XLM-Roberta-Large-Vit-B-16Plus", layout.FamilyMCLIP, 640),
	immichEntry("LABSE-Vit-L-14", layout.FamilyMCLIP, 768),
	sentenceEntry("sentence-transformers/all-MiniLM-L6-v2", 384, map[string][]string{
		"fp32": {"onnx/model.onnx"}, "quantized": {"onnx/model_quint8_avx2.onnx"},
		"qint8_avx512": {"onnx/model_qint8_avx512.onnx"}, "qint8_arm64": {"onnx/model_qint8_arm64.onnx"},
	}),
	sentenceEntry("sentence-transformers/all-MiniLM-L12-v2", 384, map[string][]string{
		"fp32": {"onnx/model.onnx"}, "quantized": {"onnx/model_quint8_avx2.onnx"},
	}),
	sentenceEntry("sentence-transformers/all-mpnet-base-v2", 768, map[string][]string{
		"fp32": {"onnx/model.onnx"}, "quantized": {"onnx/model_quint8_avx2.onnx"},
	}),
	sentenceEntry("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", 384, map[string][]string{
		"fp32": {"onnx/model.onnx"}, "quantized": {"onnx/model_quint8_avx2.onnx"},
	}),
	sentenceEntry("BAAI/bge-small-en-v1.5", 384, map[string][]string{"fp32": {"onnx/model.onnx"}}),
}

// parameters are the known models' sizes, in parameters, as their model
// cards give them (rounded), for listings: fp32 files take about 4 bytes
// a parameter. Models without an entry have no size listed.
var parameters = map[string]int64{
	"openai/clip-vit-base-patch32":                                151e6,
	"openai/clip-vit-base-patch16":                                150e6,
	"openai/clip-vit-large-patch14":                               428e6,
	"google/siglip-base-patch16-224":                              203e6,
	"google/siglip-base-patch16-256":                              203e6,
	"google/siglip-base-patch16-384":                              203e6,
	"google/siglip-base-patch16-512":                              203e6,
	"google/siglip-large-patch16-256":                             652e6,
	"google/siglip2-base-patch16-224":                             375e6,
	"immich-app/ViT-B-32__openai":                                 151e6,
	"immich-app/ViT-B-16__openai":                                 150e6,
	"immich-app/ViT-L-14__openai":                                 428e6,
	"sentence-transformers/all-MiniLM-L6-v2":                      22.7e6,
	"sentence-transformers/all-MiniLM-L12-v2":                     33.4e6,
	"sentence-transformers/all-mpnet-base-v2":                     109e6,
	"sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2": 118e6,
	"BAAI/bge-small-en-v1.5":                                      33.4e6,
}

// Params is the model's parameter count as its model card gives it
// (rounded); 0 when not known.
func (e Entry) Params() int64 { return parameters[e.ID] }

// Known lists the registry: every model hybridembed knows by name.
func Known() []Entry {
	return append([]Entry(nil), registry...)
}

// Lookup finds a known model by id or by the repo that holds its files;
// the match is case-sensitive, as Hub ids are.
func Lookup(id string) (Entry, bool) {
	for _, e := range registry {
		if e.ID == id || e.Repo == id {
			return e, true
		}
	}
	return Entry{}, false
}

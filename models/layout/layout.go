package layout

import (
	"path"
	"regexp"
	"sort"
	"strings"
)

// VariantSuffix maps a variant name to its file-name suffix: "" and "fp32"
// are the plain files; "quantized", "fp16", "int8", "q4"... are
// transformers.js's *_<variant>.onnx.
func VariantSuffix(v string) string {
	if v == "" || v == "fp32" {
		return ""
	}
	return "_" + v
}

// Kind names a model directory layout.
type Kind string

// The layouts [FindLayout] knows.
const (
	KindTowers Kind = "transformers.js" // onnx/text_model.onnx, onnx/vision_model.onnx (Xenova, onnx-community)
	KindImmich Kind = "immich"          // visual/model.onnx, textual/model.onnx, an open_clip config.json
	KindSingle Kind = "model.onnx"      // one graph: a joint export (Optimum, transformers.js) or a single tower
)

// Immich's layout: the graph of each tower in its own folder, beside that
// tower's configuration (visual/preprocess_cfg.json, textual/tokenizer.json).
const (
	ImmichVisual  = "visual/model.onnx"
	ImmichTextual = "textual/model.onnx"
)

// Layout is the ONNX graphs of one model, found among a repo's files.
type Layout struct {
	Kind         Kind
	Text, Vision string // separate towers (transformers.js/Xenova, immich)
	Single       string // one model.onnx: a joint CLIPModel export or a single tower
}

// Files lists the layout's graphs.
func (l Layout) Files() []string {
	var out []string
	for _, f := range []string{l.Text, l.Vision, l.Single} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// FindLayout looks for the layouts users have, in order: transformers.js
// towers (text_model / vision_model), in onnx/ or at the top level; immich's
// visual/ and textual/ folders (which have no file variants); then one
// model.onnx, in onnx/ or at the top level. exists says whether a
// slash-separated path is there; looked lists what was tried, for errors.
func FindLayout(exists func(string) bool, variant string) (l Layout, looked []string) {
	sfx := VariantSuffix(variant)
	try := func(p string) string {
		looked = append(looked, p)
		if exists(p) {
			return p
		}
		return ""
	}
	for _, dir := range []string{"onnx", "."} {
		rel := func(stem string) string { return path.Join(dir, stem+sfx+".onnx") }
		if l.Text == "" {
			l.Text = try(rel("text_model"))
		}
		if l.Vision == "" {
			l.Vision = try(rel("vision_model"))
		}
	}
	if l.Text != "" || l.Vision != "" {
		l.Kind = KindTowers
		return l, looked
	}
	if sfx == "" {
		l.Vision, l.Text = try(ImmichVisual), try(ImmichTextual)
		if l.Text != "" || l.Vision != "" {
			l.Kind = KindImmich
			return l, looked
		}
	}
	for _, dir := range []string{"onnx", "."} {
		if l.Single = try(path.Join(dir, "model"+sfx+".onnx")); l.Single != "" {
			l.Kind = KindSingle
			break
		}
	}
	return l, looked
}

// IsImmichFolder reports whether a repo path sits directly in one of
// immich's tower folders (visual/ or textual/): immich's downloader takes
// all of them but its other formats' graphs (*.armnn, *.rknn), and the
// external weights of a large export have names of their own there.
func IsImmichFolder(p string) bool {
	dir, name := path.Split(p)
	if dir != "visual/" && dir != "textual/" || name == "" {
		return false
	}
	ext := path.Ext(name)
	return ext != ".armnn" && ext != ".rknn"
}

// Variants lists the variants present among ONNX file paths.
func Variants(paths []string) []string {
	seen := map[string]bool{}
	for _, f := range paths {
		base, ok := strings.CutSuffix(path.Base(f), ".onnx")
		if !ok {
			continue
		}
		for _, stem := range []string{"text_model", "vision_model", "model"} {
			if base == stem {
				seen["fp32"] = true
			} else if v, ok := strings.CutPrefix(base, stem+"_"); ok && !strings.Contains(v, "model") {
				seen[v] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// configFiles are the non-ONNX files a working model may need.
var configFiles = []string{
	"config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json",
	"special_tokens_map.json", "modules.json", "sentence_bert_config.json",
}

var poolingConfig = regexp.MustCompile(`^\d+_Pooling/config\.json$`)

// IsConfigFile reports whether a repo path is configuration a local model
// reads (including sentence-transformers' N_Pooling/config.json).
func IsConfigFile(p string) bool {
	for _, c := range configFiles {
		if p == c {
			return true
		}
	}
	return poolingConfig.MatchString(p)
}

// ExternalData are the files that hold an ONNX graph's weights when they
// are stored outside it.
func ExternalData(onnx string, have map[string]bool) []string {
	var out []string
	for _, p := range []string{onnx + "_data", onnx + ".data", strings.TrimSuffix(onnx, ".onnx") + ".onnx_data"} {
		if have[p] {
			out = append(out, p)
		}
	}
	return out
}

package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/models/layout"
)

// ErrNaFlex is returned (wrapped) for SigLIP 2 NaFlex checkpoints: their
// towers take variable-length patch sequences with pixel_attention_mask
// and spatial_shapes, not images of one size. The FixRes checkpoints of
// the same family are supported.
var ErrNaFlex = imageprep.ErrNaFlex

// tokenizerClass is tokenizer_config.json's tokenizer_class ("" when there
// is none), which tells SigLIP 2's Gemma tokenizer from SigLIP's.
func tokenizerClass(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return ""
	}
	var c struct {
		Class string `json:"tokenizer_class"`
	}
	if json.Unmarshal(data, &c) != nil {
		return ""
	}
	return c.Class
}

// isGemmaTokenizer reports a Gemma tokenizer class, SigLIP 2's.
func isGemmaTokenizer(class string) bool {
	c := strings.TrimSuffix(class, "Fast")
	return c == "GemmaTokenizer" || c == "Siglip2Tokenizer"
}

// detectFamily says what kind of model dir holds from its files: immich's
// layout by its open_clip config and its textual tokenizer; the others by
// config.json's model_type (SigLIP 2 FixRes is model_type "siglip" with a
// Gemma tokenizer; model_type "siglip2" is NaFlex, refused), a
// sentence-transformers modules.json, or, for a graph with images, CLIP.
// "" means it cannot tell.
func detectFamily(dir string, cfg *hfConfig, l layout.Layout) (Family, error) {
	if l.Kind == layout.KindImmich {
		oc, err := readOpenCLIPConfig(dir)
		if err != nil {
			return "", err
		}
		return oc.family(tokenizerClass(filepath.Join(dir, "textual"))), nil
	}
	mt := strings.ToLower(cfg.ModelType)
	switch {
	case mt == "siglip2" || strings.HasPrefix(mt, "siglip2_"):
		return "", fmt.Errorf("%s: %w (config.json has model_type %q)", dir, ErrNaFlex, cfg.ModelType)
	case mt == "siglip" || strings.HasPrefix(mt, "siglip_"):
		if isGemmaTokenizer(tokenizerClass(dir)) {
			return FamilySigLIP2, nil
		}
		return FamilySigLIP, nil
	case IsCLIPFamily(mt):
		return FamilyCLIP, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "modules.json")); err == nil {
		return FamilySentence, nil
	}
	return "", nil
}

// defaultFamily is the family of a model whose files do not say: CLIP's
// defaults apply to a graph that takes images, the rest is a text encoder.
func defaultFamily(f Family, images bool) Family {
	switch {
	case f != "":
		return f
	case images:
		return FamilyCLIP
	}
	return FamilySentence
}

// openCLIPConfig is the root config.json of immich's layout: open_clip's
// model config (get_model_config), which immich reads for the text
// context length and the tokenizer's cleaning.
type openCLIPConfig struct {
	EmbedDim  int `json:"embed_dim"`
	VisionCfg struct {
		ImageSize     json.RawMessage `json:"image_size"`
		TimmModelName string          `json:"timm_model_name"`
	} `json:"vision_cfg"`
	TextCfg struct {
		ContextLength   int    `json:"context_length"`
		VocabSize       int    `json:"vocab_size"`
		HFTokenizerName string `json:"hf_tokenizer_name"`
		PoolType        string `json:"pool_type"`
		TokenizerKwargs *struct {
			Clean string `json:"clean"`
		} `json:"tokenizer_kwargs"`
	} `json:"text_cfg"`
	logitBias bool
}

var errNoOpenCLIPConfig = errors.New("immich's layout needs the open_clip config.json (embed_dim, vision_cfg, text_cfg) at the top of the model directory")

func readOpenCLIPConfig(dir string) (*openCLIPConfig, error) {
	p := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", dir, errNoOpenCLIPConfig)
	}
	if err != nil {
		return nil, err
	}
	var c openCLIPConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if _, ok := raw["text_cfg"]; !ok {
		return nil, fmt.Errorf("%s: %w", p, errNoOpenCLIPConfig)
	}
	_, c.logitBias = raw["init_logit_bias"]
	return &c, nil
}

// contextLength is what immich pads and truncates texts to (open_clip's
// default 77 when the config does not say).
func (c *openCLIPConfig) contextLength() int {
	if c.TextCfg.ContextLength > 0 {
		return c.TextCfg.ContextLength
	}
	return 77
}

// canonicalize reports tokenizer_kwargs {"clean": "canonicalize"}, which
// makes immich drop punctuation and lowercase before tokenizing.
func (c *openCLIPConfig) canonicalize() bool {
	return c.TextCfg.TokenizerKwargs != nil && c.TextCfg.TokenizerKwargs.Clean == "canonicalize"
}

// family tells the open_clip model apart: a multilingual text tower (M-CLIP:
// an XLM-R or LaBSE tokenizer beside the image tower), SigLIP (a logit bias,
// the sigmoid loss's; last-position pooling) with SigLIP 2's Gemma
// tokenizer, else CLIP.
func (c *openCLIPConfig) family(textTokenizer string) Family {
	t := strings.TrimSuffix(textTokenizer, "Fast")
	name := strings.ToLower(c.TextCfg.HFTokenizerName + " " + c.VisionCfg.TimmModelName)
	switch {
	case t == "XLMRobertaTokenizer" || t == "BertTokenizer":
		return FamilyMCLIP
	case isGemmaTokenizer(t) || strings.Contains(name, "siglip2"):
		return FamilySigLIP2
	case c.logitBias || c.TextCfg.PoolType == "last" || strings.Contains(name, "siglip"):
		return FamilySigLIP
	}
	return FamilyCLIP
}

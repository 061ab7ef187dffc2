package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hybridembed/hybridembed/models/layout"
)

// ErrUnknownLayout is returned (wrapped in a *[LayoutError]) when a directory
// holds no model hybridembed knows how to run.
var ErrUnknownLayout = errors.New("no usable ONNX model")

// LayoutError says what was looked for in a model directory and what was
// there instead.
type LayoutError struct {
	Dir     string
	Variant string
	Looked  []string // relative paths tried
	Found   []string // .onnx files that exist but did not match
	Reason  string   // extra detail, e.g. an output that is missing
}

func (e *LayoutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v", e.Dir, ErrUnknownLayout)
	if e.Variant != "" {
		fmt.Fprintf(&b, " for variant %q", e.Variant)
	}
	if e.Reason != "" {
		b.WriteString(": " + e.Reason)
	}
	if len(e.Looked) > 0 {
		b.WriteString(" (looked for " + strings.Join(e.Looked, ", ") + ")")
	}
	if len(e.Found) > 0 {
		b.WriteString("; the directory has " + strings.Join(e.Found, ", "))
		if v := layout.Variants(e.Found); len(v) > 0 {
			b.WriteString(" (variants: " + strings.Join(v, ", ") + ")")
		}
	}
	return b.String()
}

func (e *LayoutError) Unwrap() error { return ErrUnknownLayout }

// findFiles looks for a model's graphs in dir (see [layout.FindLayout]).
func findFiles(dir, variant string) (layout.Layout, error) {
	l, looked := layout.FindLayout(func(rel string) bool {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel)))
		return err == nil && !st.IsDir()
	}, variant)
	for _, p := range []*string{&l.Text, &l.Vision, &l.Single} {
		if *p != "" {
			*p = filepath.Join(dir, filepath.FromSlash(*p))
		}
	}
	if l.Files() == nil {
		return l, &LayoutError{Dir: dir, Variant: variant, Looked: looked, Found: listONNX(dir)}
	}
	return l, nil
}

func listONNX(dir string) []string {
	var out []string
	for _, sub := range []string{".", "onnx"} {
		m, _ := filepath.Glob(filepath.Join(dir, sub, "*.onnx"))
		for _, p := range m {
			r, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(r))
		}
	}
	return out
}

// hfConfig is the part of config.json hybridembed reads.
type hfConfig struct {
	ModelType             string    `json:"model_type"`
	Architectures         []string  `json:"architectures"`
	ProjectionDim         int       `json:"projection_dim"`
	ProjectionSize        int       `json:"projection_size"` // SigLIP's text head, when it differs from hidden_size
	HiddenSize            int       `json:"hidden_size"`
	MaxPositionEmbeddings int       `json:"max_position_embeddings"`
	ImageSize             int       `json:"image_size"`
	BOSTokenID            *int      `json:"bos_token_id"`
	EOSTokenID            *int      `json:"eos_token_id"`
	TextConfig            *hfConfig `json:"text_config"`
	VisionConfig          *hfConfig `json:"vision_config"`
}

func readConfig(dir string) (*hfConfig, error) {
	p := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return &hfConfig{}, nil
	}
	if err != nil {
		return nil, err
	}
	var c hfConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &c, nil
}

// text is the text tower's config (config.text_config for CLIPModel, the
// config itself for a text-only export).
func (c *hfConfig) text() *hfConfig {
	if c.TextConfig != nil {
		return c.TextConfig
	}
	return c
}

func (c *hfConfig) vision() *hfConfig {
	if c.VisionConfig != nil {
		return c.VisionConfig
	}
	return c
}

// IsCLIPFamily reports whether a config.json model_type is an image-text
// dual encoder whose text and image vectors share one space, so both must
// come from the same local model.
func IsCLIPFamily(modelType string) bool {
	mt := strings.ToLower(modelType)
	for _, p := range []string{"clip", "siglip", "chinese_clip", "align", "blip", "owlvit", "xclip", "altclip"} {
		if mt == p || strings.HasPrefix(mt, p+"_") {
			return true
		}
	}
	return false
}

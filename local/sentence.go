package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// stConfig is what a sentence-transformers repo says about the pipeline
// around the transformer: modules.json, the Pooling module's config and
// sentence_bert_config.json.
type stConfig struct {
	pooling   []string // in sentence-transformers' concatenation order
	normalize bool
	dense     string // path of a Dense module the ONNX graph may not include
	maxSeq    int
}

// stModule is one entry of modules.json.
type stModule struct {
	Path string `json:"path"`
	Type string `json:"type"`
}

// readModules reads dir/modules.json; nil when there is none.
func readModules(dir string) ([]stModule, error) {
	data, err := os.ReadFile(filepath.Join(dir, "modules.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var mods []stModule
	if err := json.Unmarshal(data, &mods); err != nil {
		return nil, fmt.Errorf("%s/modules.json: %w", dir, err)
	}
	return mods, nil
}

// readSTConfig returns nil when dir has no modules.json.
func readSTConfig(dir string) (*stConfig, error) {
	mods, err := readModules(dir)
	if mods == nil || err != nil {
		return nil, err
	}
	st := &stConfig{}
	for _, m := range mods {
		kind := m.Type[strings.LastIndex(m.Type, ".")+1:]
		switch kind {
		case "Transformer", "CLIPModel":
		case "Pooling":
			if st.pooling, err = readPooling(filepath.Join(dir, m.Path, "config.json")); err != nil {
				return nil, err
			}
		case "Normalize":
			st.normalize = true
		case "Dense":
			st.dense = m.Path
		default:
			return nil, fmt.Errorf("%s/modules.json: module %s (%s) is not supported", dir, m.Path, m.Type)
		}
	}
	if data, err := os.ReadFile(filepath.Join(dir, "sentence_bert_config.json")); err == nil {
		var c struct {
			MaxSeqLength int `json:"max_seq_length"`
		}
		if err := json.Unmarshal(data, &c); err != nil {
			return nil, fmt.Errorf("%s/sentence_bert_config.json: %w", dir, err)
		}
		st.maxSeq = c.MaxSeqLength
	}
	return st, nil
}

// poolingModes in the order sentence-transformers concatenates them.
var poolingModes = []struct{ key, mode string }{
	{"pooling_mode_cls_token", "cls"},
	{"pooling_mode_max_tokens", "max"},
	{"pooling_mode_mean_tokens", "mean"},
	{"pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"},
	{"pooling_mode_weightedmean_tokens", "weightedmean"},
	{"pooling_mode_lasttoken", "lasttoken"},
}

func readPooling(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pooling config: %w", err)
	}
	var c map[string]any
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var modes []string
	for _, pm := range poolingModes {
		if on, _ := c[pm.key].(bool); on {
			modes = append(modes, pm.mode)
		}
	}
	// The newer single-string form: "pooling_mode": "mean".
	if s, ok := c["pooling_mode"].(string); ok && len(modes) == 0 {
		modes = []string{strings.TrimSuffix(strings.TrimSuffix(s, "_tokens"), "_token")}
	}
	if len(modes) == 0 {
		return nil, fmt.Errorf("%s: no pooling mode is on", path)
	}
	return modes, nil
}

// ReadFamily says what kind of model dir holds from its config files alone
// (no ONNX Runtime needed): by config.json's model_type and the tokenizer
// (immich's layout by its open_clip config), a sentence encoder when there
// is a modules.json; "" when it cannot tell.
func ReadFamily(dir string) (Family, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return "", err
	}
	l, _ := findFiles(dir, "") // only immich's layout changes what the configs mean
	return detectFamily(dir, cfg, l)
}

// ReadPooling returns the single pooling mode ("mean", "cls", "max") of a
// sentence-transformers repo, for pooling token states a server returns;
// "" when there is none or it is not one of those.
func ReadPooling(dir string) string {
	st, err := readSTConfig(dir)
	if err != nil || st == nil || len(st.pooling) != 1 {
		return ""
	}
	switch p := st.pooling[0]; p {
	case "mean", "cls", "max":
		return p
	}
	return ""
}

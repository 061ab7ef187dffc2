package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
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

// readSTConfig returns nil when dir has no modules.json.
func readSTConfig(dir string) (*stConfig, error) {
	data, err := os.ReadFile(filepath.Join(dir, "modules.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var mods []struct {
		Path string `json:"path"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &mods); err != nil {
		return nil, fmt.Errorf("%s/modules.json: %w", dir, err)
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

// pool reduces token states [rows][cols][hidden] to one vector per row
// with the attention mask, as sentence-transformers' Pooling module does.
func pool(states []float32, mask []int64, rows, cols, hidden int, modes []string) ([][]float32, error) {
	out := make([][]float32, rows)
	for r := 0; r < rows; r++ {
		h := states[r*cols*hidden : (r+1)*cols*hidden]
		m := mask[r*cols : (r+1)*cols]
		var vec []float32
		for _, mode := range modes {
			v := make([]float32, hidden)
			switch mode {
			case "cls":
				copy(v, h[:hidden])
			case "lasttoken":
				last := 0
				for t := range m {
					if m[t] != 0 {
						last = t
					}
				}
				copy(v, h[last*hidden:(last+1)*hidden])
			case "max":
				for j := range v {
					v[j] = -1e9 // sentence-transformers' fill for padded tokens
				}
				for t := 0; t < cols; t++ {
					if m[t] == 0 {
						continue
					}
					for j := range v {
						v[j] = max(v[j], h[t*hidden+j])
					}
				}
			case "mean", "mean_sqrt_len", "weightedmean":
				var n float64
				acc := make([]float64, hidden)
				for t := 0; t < cols; t++ {
					if m[t] == 0 {
						continue
					}
					w := 1.0
					if mode == "weightedmean" {
						w = float64(t + 1)
					}
					n += w
					for j := range acc {
						acc[j] += w * float64(h[t*hidden+j])
					}
				}
				div := math.Max(n, 1e-9)
				if mode == "mean_sqrt_len" {
					div = math.Sqrt(math.Max(n, 1e-9))
				}
				for j := range v {
					v[j] = float32(acc[j] / div)
				}
			default:
				return nil, fmt.Errorf("unknown pooling mode %q", mode)
			}
			vec = append(vec, v...)
		}
		out[r] = vec
	}
	return out, nil
}

// ReadFamily says what kind of model dir holds from its config files alone
// (no ONNX Runtime needed): CLIP family by config.json's model_type, a
// sentence encoder when there is a modules.json; "" when it cannot tell.
func ReadFamily(dir string) (Family, error) {
	cfg, err := readConfig(dir)
	if err != nil {
		return "", err
	}
	if IsCLIPFamily(cfg.ModelType) {
		return FamilyCLIP, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "modules.json")); err == nil {
		return FamilySentence, nil
	}
	return "", nil
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

package tokenize

import (
	"encoding/json"
	"fmt"
)

// postProcessor adds special tokens around a single sequence.
type postProcessor interface {
	process(ids []int) (out, typeIDs []int)
	added() int // how many tokens process adds, for truncation
}

type noPost struct{}

func (noPost) process(ids []int) ([]int, []int) { return ids, make([]int, len(ids)) }
func (noPost) added() int                       { return 0 }

// template is TemplateProcessing's single-sequence template; Roberta and
// Bert processing are the template [cls] $A [sep].
type template []templateItem

type templateItem struct {
	special []int // nil for the sequence itself
	typeID  int
}

func (t template) process(ids []int) ([]int, []int) {
	out := make([]int, 0, len(ids)+t.added())
	types := make([]int, 0, cap(out))
	for _, it := range t {
		part := it.special
		if part == nil {
			part = ids
		}
		out = append(out, part...)
		for range part {
			types = append(types, it.typeID)
		}
	}
	return out, types
}

func (t template) added() int {
	n := 0
	for _, it := range t {
		n += len(it.special)
	}
	return n
}

type postSpec struct {
	Type    string            `json:"type"`
	CLS     []json.RawMessage `json:"cls"`
	SEP     []json.RawMessage `json:"sep"`
	Single  []json.RawMessage `json:"single"`
	Special map[string]struct {
		IDs []int `json:"ids"`
	} `json:"special_tokens"`
	Processors []json.RawMessage `json:"processors"`
}

func parsePostProcessor(raw json.RawMessage) (postProcessor, error) {
	if isNull(raw) {
		return noPost{}, nil
	}
	var s postSpec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	switch s.Type {
	case "RobertaProcessing", "BertProcessing":
		cls, err := tokenPair(s.CLS)
		if err != nil {
			return nil, fmt.Errorf("%s cls: %w", s.Type, err)
		}
		sep, err := tokenPair(s.SEP)
		if err != nil {
			return nil, fmt.Errorf("%s sep: %w", s.Type, err)
		}
		return template{{special: []int{cls}}, {}, {special: []int{sep}}}, nil
	case "TemplateProcessing":
		var t template
		for _, raw := range s.Single {
			var item struct {
				SpecialToken *struct {
					ID     string `json:"id"`
					TypeID int    `json:"type_id"`
				}
				Sequence *struct {
					TypeID int `json:"type_id"`
				}
			}
			if err := json.Unmarshal(raw, &item); err != nil {
				return nil, fmt.Errorf("TemplateProcessing: %w", err)
			}
			switch {
			case item.SpecialToken != nil:
				sp, ok := s.Special[item.SpecialToken.ID]
				if !ok || len(sp.IDs) == 0 {
					return nil, fmt.Errorf("TemplateProcessing: special token %q has no ids", item.SpecialToken.ID)
				}
				t = append(t, templateItem{special: sp.IDs, typeID: item.SpecialToken.TypeID})
			case item.Sequence != nil:
				t = append(t, templateItem{typeID: item.Sequence.TypeID})
			}
		}
		return t, nil
	case "ByteLevel":
		return noPost{}, nil // only adjusts offsets
	case "Sequence":
		// Embedding tokenizers chain ByteLevel with one token-adding step.
		var adding postProcessor = noPost{}
		for _, r := range s.Processors {
			p, err := parsePostProcessor(r)
			if err != nil {
				return nil, err
			}
			if _, isNoop := p.(noPost); isNoop {
				continue
			}
			if _, already := adding.(noPost); !already {
				return nil, fmt.Errorf("post_processor Sequence with more than one token-adding step is not supported")
			}
			adding = p
		}
		return adding, nil
	}
	return nil, fmt.Errorf("post_processor %q is not supported", s.Type)
}

// tokenPair reads tokenizers' ["<s>", 0] form.
func tokenPair(raw []json.RawMessage) (int, error) {
	if len(raw) != 2 {
		return 0, fmt.Errorf("want [token, id], got %d elements", len(raw))
	}
	var id int
	if err := json.Unmarshal(raw[1], &id); err != nil {
		return 0, err
	}
	return id, nil
}

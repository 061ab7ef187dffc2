package server

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
)

type openAIRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
	User           string          `json:"user"`     // accepted and ignored
	Modality       string          `json:"modality"` // infinity's: "text" or "image"
}

type openAIEmbedding struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string
}

type openAIResponse struct {
	Object string            `json:"object"`
	Data   []openAIEmbedding `json:"data"`
	Model  string            `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

func (s *Server) openAIEmbeddings(w http.ResponseWriter, r *http.Request) {
	var req openAIRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, apiOpenAI, err)
		return
	}
	info := infoOf(r)
	info.model = req.Model
	if req.Model == "" {
		writeError(w, r, apiOpenAI, badRequest("model", "model is required"))
		return
	}
	sv, err := s.lookup(req.Model)
	if err != nil {
		writeError(w, r, apiOpenAI, err)
		return
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		writeError(w, r, apiOpenAI, badRequest("encoding_format", "encoding_format must be float or base64, not %q", req.EncodingFormat))
		return
	}
	inputs, err := parseOpenAIInput(req.Input, req.Modality, s.cfg.MaxInputs)
	if err != nil {
		writeError(w, r, apiOpenAI, err)
		return
	}
	info.inputs = len(inputs)
	if req.Dimensions != nil {
		if dim := sv.model.Info().Dim; dim == 0 || *req.Dimensions != dim {
			writeError(w, r, apiOpenAI, badRequest("dimensions",
				"model %s cannot shorten its vectors: it makes %d dimensions, and dimensions=%d was asked for", req.Model, dim, *req.Dimensions))
			return
		}
	}
	res, err := s.embed(r.Context(), sv, inputs, true, true)
	if err != nil {
		writeError(w, r, apiOpenAI, err)
		return
	}
	info.backend = res.backend
	out := openAIResponse{Object: "list", Model: req.Model, Data: make([]openAIEmbedding, len(res.vectors))}
	for i, v := range res.vectors {
		out.Data[i] = openAIEmbedding{Object: "embedding", Index: i, Embedding: v}
		if req.EncodingFormat == "base64" {
			out.Data[i].Embedding = float32Base64(v)
		}
	}
	out.Usage.PromptTokens, out.Usage.TotalTokens = res.tokens, res.tokens
	setBackend(w, res)
	writeJSON(w, http.StatusOK, out)
}

// backendHeader says which backend answered: local, remote, or both;
// providerHeader which inference providers answered remote vectors (absent
// when none did).
const (
	backendHeader  = "X-Hybridembed-Backend"
	providerHeader = "X-Hybridembed-Provider"
)

func setBackend(w http.ResponseWriter, res result) {
	w.Header().Set(backendHeader, res.backend)
	if res.provider != "" {
		w.Header().Set(providerHeader, res.provider)
	}
}

// float32Base64 is OpenAI's base64 encoding: little-endian float32 bytes.
func float32Base64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// parseOpenAIInput reads input: a string, an array of strings, or an
// array of content parts ({"type":"text","text"} and
// {"type":"image_url","image_url":{"url"}}). With modality "image",
// strings are image data URIs (infinity's form).
func parseOpenAIInput(raw json.RawMessage, modality string, maxInputs int) ([]input, error) {
	switch modality {
	case "", "text", "image":
	default:
		return nil, badRequest("modality", "modality must be text or image, not %q", modality)
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badRequest("input", "input is required")
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		in, err := stringInput("input", one, modality)
		if err != nil {
			return nil, err
		}
		return []input{in}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, badRequest("input", "input must be a string or an array of strings or content parts")
	}
	if len(items) == 0 {
		return nil, badRequest("input", "input is empty")
	}
	if len(items) > maxInputs {
		return nil, badRequest("input", "input has %d items; this server takes at most %d per request", len(items), maxInputs)
	}
	out := make([]input, len(items))
	for i, item := range items {
		param := fmt.Sprintf("input[%d]", i)
		var err error
		switch item[0] {
		case '"':
			var s string
			if err = json.Unmarshal(item, &s); err == nil {
				out[i], err = stringInput(param, s, modality)
			}
		case '{':
			out[i], err = partInput(param, item)
		case '[', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			err = badRequest("input", "%s: token arrays are not accepted; send the text", param)
		default:
			err = badRequest("input", "%s: want a string or a content part", param)
		}
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				err = badRequest("input", "%s: %v", param, err)
			}
			return nil, err
		}
	}
	return out, nil
}

func stringInput(param, s, modality string) (input, error) {
	if modality == "image" {
		b, err := imageFromURI(param, s)
		return input{image: b, isImage: true}, err
	}
	if s == "" {
		return input{}, badRequest("input", "%s is an empty string", param)
	}
	return input{text: s}, nil
}

// partInput reads a content part, as chat-style clients send them.
func partInput(param string, raw json.RawMessage) (input, error) {
	var part struct {
		Type     string          `json:"type"`
		Text     *string         `json:"text"`
		ImageURL json.RawMessage `json:"image_url"`
	}
	if err := json.Unmarshal(raw, &part); err != nil {
		return input{}, badRequest("input", "%s: %v", param, err)
	}
	switch part.Type {
	case "text":
		if part.Text == nil {
			return input{}, badRequest("input", "%s: a text part needs text", param)
		}
		return stringInput(param, *part.Text, "text")
	case "image_url":
		var url string
		if err := json.Unmarshal(part.ImageURL, &url); err != nil {
			var obj struct {
				URL string `json:"url"`
			}
			if err := json.Unmarshal(part.ImageURL, &obj); err != nil || obj.URL == "" {
				return input{}, badRequest("input", "%s: image_url must be {\"url\": \"data:image/...;base64,...\"}", param)
			}
			url = obj.URL
		}
		return stringInput(param, url, "image")
	}
	return input{}, badRequest("input", "%s: unknown content part type %q (want text or image_url)", param, part.Type)
}

func (s *Server) openAIModels(w http.ResponseWriter, r *http.Request) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	out := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, name := range s.names {
		out.Data = append(out.Data, model{ID: name, Object: "model", Created: s.models[name].created, OwnedBy: "hybridembed"})
	}
	writeJSON(w, http.StatusOK, out)
}

// decodeJSON reads a JSON body: malformed JSON and wrong types are 400
// with the decoder's words; a body over the limit is 413.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.As(err, &te):
			return badRequest(te.Field, "%s must be %s, not %s", fieldName(te.Field), jsonKind(te.Type.Kind().String()), te.Value)
		}
		return badRequest("", "the body is not valid JSON: %v", err)
	}
	if dec.More() {
		return badRequest("", "the body has more than one JSON value")
	}
	return nil
}

func fieldName(f string) string {
	if f == "" {
		return "the body"
	}
	return f
}

func jsonKind(k string) string {
	switch k {
	case "struct", "map":
		return "an object"
	case "slice":
		return "an array"
	case "bool":
		return "a boolean"
	case "int", "int64", "float64", "float32":
		return "a number"
	}
	return "a " + k
}

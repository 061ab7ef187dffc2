package server

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
)

type openAIRequest struct {
	Model          string      `json:"model"`
	Input          openAIInput `json:"input"`
	EncodingFormat string      `json:"encoding_format"`
	Dimensions     *int        `json:"dimensions"`
	User           string      `json:"user"`     // accepted and ignored
	Modality       string      `json:"modality"` // infinity's: "text" or "image"
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

func (s *Server) openAIEmbeddings(w http.ResponseWriter, r *http.Request, body []byte) {
	info := infoOf(r)
	req, inputs, err := parseOpenAIRequest(body, s.cfg.MaxInputs)
	info.model = req.Model
	if err != nil {
		writeError(w, r, apiOpenAI, err)
		return
	}
	sv, err := s.lookup(req.Model)
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

// parseOpenAIRequest reads an embeddings request body: its fields, then
// its inputs (data URIs decoded). It is a pure function of the body, so a
// fuzz test can call it. Errors are what the client gets, in the order it
// would want them: the JSON, the model, the options, then the inputs.
func parseOpenAIRequest(body []byte, maxInputs int) (openAIRequest, []input, error) {
	var req openAIRequest
	if err := decodeJSON(body, &req); err != nil {
		return req, nil, err
	}
	if req.Model == "" {
		return req, nil, badRequest("model", "model is required")
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		return req, nil, badRequest("encoding_format", "encoding_format must be float or base64, not %q", req.EncodingFormat)
	}
	inputs, err := req.Input.inputs(req.Modality, maxInputs)
	return req, inputs, err
}

// openAIInput is input as it was parsed: a string, or an array of
// strings or content parts ({"type":"text","text"} and
// {"type":"image_url","image_url":{"url"}}). Its strings are kept as
// json decoded them (one copy of the body), and what they mean waits for
// the whole body, since "modality" may come after "input".
type openAIInput struct {
	present bool
	single  bool
	wrong   bool // neither a string nor an array
	items   []inputItem
}

func (in *openAIInput) UnmarshalJSON(data []byte) error {
	*in = openAIInput{}
	switch data[0] {
	case 'n':
	case '"':
		in.present, in.single = true, true
		in.items = []inputItem{{kind: itemString}}
		return json.Unmarshal(data, &in.items[0].s)
	case '[':
		in.present = true
		return json.Unmarshal(data, &in.items)
	default:
		in.present, in.wrong = true, true
	}
	return nil
}

type itemKind int

const (
	itemOther  itemKind = iota // a boolean, null
	itemString                 // s
	itemPart                   // part (or partErr)
	itemTokens                 // a number or an array: token ids
)

// inputItem is one element of input.
type inputItem struct {
	kind    itemKind
	s       string
	part    contentPart
	partErr error
}

type contentPart struct {
	Type     string   `json:"type"`
	Text     *string  `json:"text"`
	ImageURL imageURL `json:"image_url"`
}

// imageURL is image_url: {"url": "..."} or, as some clients send it, the
// URL itself.
type imageURL struct {
	url string
	ok  bool
}

func (u *imageURL) UnmarshalJSON(data []byte) error {
	*u = imageURL{}
	switch data[0] {
	case '"':
		u.ok = json.Unmarshal(data, &u.url) == nil
	case '{':
		var obj struct {
			URL string `json:"url"`
		}
		u.ok = json.Unmarshal(data, &obj) == nil && obj.URL != ""
		u.url = obj.URL
	}
	return nil
}

func (it *inputItem) UnmarshalJSON(data []byte) error {
	*it = inputItem{}
	switch data[0] {
	case '"':
		it.kind = itemString
		return json.Unmarshal(data, &it.s)
	case '{':
		it.kind = itemPart
		it.partErr = json.Unmarshal(data, &it.part)
	case '[', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		it.kind = itemTokens
	}
	return nil
}

// inputs checks the parsed input and makes it the inputs to embed. With
// modality "image", strings are image data URIs (infinity's form). Each
// string is dropped once read, so that the decoded images do not sit
// beside the base64 they came from.
func (in *openAIInput) inputs(modality string, maxInputs int) ([]input, error) {
	switch modality {
	case "", "text", "image":
	default:
		return nil, badRequest("modality", "modality must be text or image, not %q", modality)
	}
	switch {
	case !in.present:
		return nil, badRequest("input", "input is required")
	case in.wrong:
		return nil, badRequest("input", "input must be a string or an array of strings or content parts")
	case in.single:
		v, err := stringInput("input", in.items[0].s, modality)
		in.items = nil
		if err != nil {
			return nil, err
		}
		return []input{v}, nil
	case len(in.items) == 0:
		return nil, badRequest("input", "input is empty")
	case len(in.items) > maxInputs:
		return nil, badRequest("input", "input has %d items; this server takes at most %d per request", len(in.items), maxInputs)
	}
	out := make([]input, len(in.items))
	for i := range in.items {
		it := &in.items[i]
		param := fmt.Sprintf("input[%d]", i)
		var err error
		switch it.kind {
		case itemString:
			out[i], err = stringInput(param, it.s, modality)
		case itemPart:
			out[i], err = partInput(param, it.part, it.partErr)
		case itemTokens:
			err = badRequest("input", "%s: token arrays are not accepted; send the text", param)
		default:
			err = badRequest("input", "%s: want a string or a content part", param)
		}
		*it = inputItem{}
		if err != nil {
			return nil, err
		}
	}
	in.items = nil
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
func partInput(param string, part contentPart, err error) (input, error) {
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return input{}, badRequest("input", "%s: %s must be %s, not %s", param, fieldName(te.Field), jsonKind(te.Type.Kind().String()), te.Value)
		}
		return input{}, badRequest("input", "%s: %v", param, err)
	}
	switch part.Type {
	case "text":
		if part.Text == nil {
			return input{}, badRequest("input", "%s: a text part needs text", param)
		}
		return stringInput(param, *part.Text, "text")
	case "image_url":
		if !part.ImageURL.ok {
			return input{}, badRequest("input", "%s: image_url must be {\"url\": \"data:image/...;base64,...\"}", param)
		}
		return stringInput(param, part.ImageURL.url, "image")
	}
	return input{}, badRequest("input", "%s: unknown content part type %q (want text or image_url)", param, part.Type)
}

// openAIModel is a model as OpenAI's /v1/models lists it.
type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) openAIModel(sv *served) openAIModel {
	return openAIModel{ID: sv.name, Object: "model", Created: sv.created, OwnedBy: "hybridembed"}
}

func (s *Server) openAIModels(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Object string        `json:"object"`
		Data   []openAIModel `json:"data"`
	}{Object: "list", Data: []openAIModel{}}
	for _, name := range s.names {
		out.Data = append(out.Data, s.openAIModel(s.models[name]))
	}
	writeJSON(w, http.StatusOK, out)
}

// openAIRetrieve serves GET /v1/models/{id} (the SDKs' models.retrieve).
// Ids hold slashes (openai/clip-vit-base-patch32), sent as they are or
// escaped as %2F.
func (s *Server) openAIRetrieve(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	infoOf(r).model = id
	sv, err := s.lookup(id)
	if err != nil {
		writeError(w, r, apiOpenAI, err)
		return
	}
	writeJSON(w, http.StatusOK, s.openAIModel(sv))
}

// decodeJSON reads a JSON body: malformed JSON and wrong types are 400
// with the decoder's words.
func decodeJSON(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &te):
		return badRequest(te.Field, "%s must be %s, not %s", fieldName(te.Field), jsonKind(te.Type.Kind().String()), te.Value)
	case len(bytes.TrimSpace(body)) == 0:
		return badRequest("", "the body is empty; want a JSON object")
	}
	return badRequest("", "the body is not valid JSON: %v", err)
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

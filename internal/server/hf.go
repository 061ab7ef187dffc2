package server

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"
)

type hfRequest struct {
	Inputs              hfInputs `json:"inputs"`
	Normalize           *bool    `json:"normalize"`
	Truncate            *bool    `json:"truncate"` // texts are always truncated to the model's maximum
	TruncationDirection string   `json:"truncation_direction"`
	PromptName          *string  `json:"prompt_name"`
}

// hfInputs is inputs as parsed: a string or a list of strings, decoded
// straight from the body (no second copy of it).
type hfInputs struct {
	present bool
	single  bool
	wrong   bool // neither
	texts   []string
}

func (in *hfInputs) UnmarshalJSON(data []byte) error {
	*in = hfInputs{}
	switch data[0] {
	case 'n':
		return nil
	case '"':
		in.present, in.single, in.texts = true, true, []string{""}
		return json.Unmarshal(data, &in.texts[0])
	}
	in.present = true
	in.wrong = data[0] != '[' || json.Unmarshal(data, &in.texts) != nil
	return nil
}

const featureExtraction = "/pipeline/feature-extraction"

// hfRouter serves the router's route:
// POST /hf-inference/models/{org}/{name}/pipeline/feature-extraction.
func (s *Server) hfRouter(w http.ResponseWriter, r *http.Request, body []byte) {
	rest := strings.TrimPrefix(r.URL.Path, "/hf-inference/models/")
	id, ok := strings.CutSuffix(rest, featureExtraction)
	if !ok {
		writeError(w, r, apiHF, errNotFound("only the feature-extraction pipeline is served: POST /hf-inference/models/{model}%s", featureExtraction))
		return
	}
	s.hf(w, r, body, id)
}

// hfModels serves POST /models/{org}/{name}, as an endpoint's URL is used.
func (s *Server) hfModels(w http.ResponseWriter, r *http.Request, body []byte) {
	id := strings.TrimPrefix(r.URL.Path, "/models/")
	id = strings.TrimSuffix(id, featureExtraction)
	s.hf(w, r, body, id)
}

// hfSingle serves the base URL (and TEI's /embed) when one model is served.
func (s *Server) hfSingle(w http.ResponseWriter, r *http.Request, body []byte) {
	if len(s.names) != 1 {
		writeError(w, r, apiHF, badRequest("", "this server serves %d models; post to /models/{model} (one of %s)", len(s.names), strings.Join(s.names, ", ")))
		return
	}
	s.hf(w, r, body, s.names[0])
}

// hf answers as the router does: a vector for a string, a list of vectors
// for a list; an image/* body gives the image's vector.
func (s *Server) hf(w http.ResponseWriter, r *http.Request, body []byte, name string) {
	info := infoOf(r)
	info.model = name
	sv, err := s.lookup(name)
	if err != nil {
		writeError(w, r, apiHF, err)
		return
	}
	req, err := parseHFRequest(r.Header.Get("Content-Type"), body, s.cfg.MaxInputs)
	if err != nil {
		writeError(w, r, apiHF, err)
		return
	}
	info.inputs = len(req.inputs)
	res, err := s.embed(r.Context(), sv, req.inputs, req.normalize, false)
	if err != nil {
		writeError(w, r, apiHF, err)
		return
	}
	info.backend = res.backend
	setBackend(w, res)
	if req.single {
		writeJSON(w, http.StatusOK, res.vectors[0])
		return
	}
	writeJSON(w, http.StatusOK, res.vectors)
}

// hfParsed is a feature-extraction request, parsed.
type hfParsed struct {
	inputs    []input
	single    bool // answer with one vector, not a list
	normalize bool
}

// parseHFRequest reads a feature-extraction body: JSON {"inputs", ...},
// or, with an image/* Content-Type, the image itself (the body is used as
// it is, not copied). It is a pure function of its arguments, so a fuzz
// test can call it.
func parseHFRequest(contentType string, body []byte, maxInputs int) (hfParsed, error) {
	out := hfParsed{single: true, normalize: true}
	ct, _, _ := mime.ParseMediaType(contentType)
	if strings.HasPrefix(ct, "image/") {
		if len(body) == 0 {
			return out, badRequest("inputs", "the image body is empty")
		}
		out.inputs = []input{{image: body, isImage: true}}
		return out, nil
	}
	var req hfRequest
	if err := decodeJSON(body, &req); err != nil {
		return out, unprocessable(err)
	}
	var err error
	if out.inputs, out.single, err = req.Inputs.inputs(maxInputs); err != nil {
		return out, err
	}
	switch {
	case req.PromptName != nil:
		return out, &apiError{status: http.StatusUnprocessableEntity, message: "prompt_name is not supported by this server"}
	case req.TruncationDirection != "" && !strings.EqualFold(req.TruncationDirection, "right"):
		return out, &apiError{status: http.StatusUnprocessableEntity, message: "truncation_direction must be Right: texts are truncated at the end"}
	}
	if req.Normalize != nil {
		out.normalize = *req.Normalize
	}
	return out, nil
}

// unprocessable makes a body that parses but has wrong types a 422, as TEI
// answers it; malformed JSON stays 400.
func unprocessable(err error) error {
	if ae, ok := err.(*apiError); ok && ae.param != "" {
		ae.status = http.StatusUnprocessableEntity
	}
	return err
}

func (in *hfInputs) inputs(maxInputs int) ([]input, bool, error) {
	switch {
	case !in.present:
		return nil, false, badRequest("inputs", "inputs is required")
	case in.wrong:
		return nil, false, &apiError{status: http.StatusUnprocessableEntity, message: "inputs must be a string or a list of strings"}
	case in.single && in.texts[0] == "":
		return nil, false, badRequest("inputs", "inputs is an empty string")
	case in.single:
		return []input{{text: in.texts[0]}}, true, nil
	case len(in.texts) == 0:
		return nil, false, badRequest("inputs", "inputs is empty")
	case len(in.texts) > maxInputs:
		return nil, false, &apiError{status: http.StatusRequestEntityTooLarge,
			message: "batch size " + itoa(len(in.texts)) + " > maximum allowed batch size " + itoa(maxInputs)}
	}
	out := make([]input, len(in.texts))
	for i, t := range in.texts {
		if t == "" {
			return nil, false, badRequest("inputs", "inputs[%d] is an empty string", i)
		}
		out[i] = input{text: t}
	}
	return out, false, nil
}

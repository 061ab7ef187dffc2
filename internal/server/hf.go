package server

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"
)

type hfRequest struct {
	Inputs              json.RawMessage `json:"inputs"`
	Normalize           *bool           `json:"normalize"`
	Truncate            *bool           `json:"truncate"` // texts are always truncated to the model's maximum
	TruncationDirection string          `json:"truncation_direction"`
	PromptName          *string         `json:"prompt_name"`
}

const featureExtraction = "/pipeline/feature-extraction"

// hfRouter serves the router's route:
// POST /hf-inference/models/{org}/{name}/pipeline/feature-extraction.
func (s *Server) hfRouter(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/hf-inference/models/")
	id, ok := strings.CutSuffix(rest, featureExtraction)
	if !ok {
		writeError(w, r, apiHF, errNotFound("only the feature-extraction pipeline is served: POST /hf-inference/models/{model}%s", featureExtraction))
		return
	}
	s.hf(w, r, id)
}

// hfModels serves POST /models/{org}/{name}, as an endpoint's URL is used.
func (s *Server) hfModels(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/models/")
	id = strings.TrimSuffix(id, featureExtraction)
	s.hf(w, r, id)
}

// hfSingle serves the base URL (and TEI's /embed) when one model is served.
func (s *Server) hfSingle(w http.ResponseWriter, r *http.Request) {
	if len(s.names) != 1 {
		writeError(w, r, apiHF, badRequest("", "this server serves %d models; post to /models/{model} (one of %s)", len(s.names), strings.Join(s.names, ", ")))
		return
	}
	s.hf(w, r, s.names[0])
}

// hf answers as the router does: a vector for a string, a list of vectors
// for a list; an image/* body gives the image's vector.
func (s *Server) hf(w http.ResponseWriter, r *http.Request, name string) {
	info := infoOf(r)
	info.model = name
	sv, err := s.lookup(name)
	if err != nil {
		writeError(w, r, apiHF, err)
		return
	}
	var inputs []input
	single := true
	normalize := true
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if strings.HasPrefix(ct, "image/") {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, r, apiHF, err)
			return
		}
		if len(data) == 0 {
			writeError(w, r, apiHF, badRequest("inputs", "the image body is empty"))
			return
		}
		inputs = []input{{image: data, isImage: true}}
	} else {
		var req hfRequest
		if err := decodeJSON(r, &req); err != nil {
			writeError(w, r, apiHF, unprocessable(err))
			return
		}
		if inputs, single, err = parseHFInputs(req.Inputs, s.cfg.MaxInputs); err != nil {
			writeError(w, r, apiHF, err)
			return
		}
		switch {
		case req.PromptName != nil:
			writeError(w, r, apiHF, &apiError{status: http.StatusUnprocessableEntity, message: "prompt_name is not supported by this server"})
			return
		case req.TruncationDirection != "" && !strings.EqualFold(req.TruncationDirection, "right"):
			writeError(w, r, apiHF, &apiError{status: http.StatusUnprocessableEntity, message: "truncation_direction must be Right: texts are truncated at the end"})
			return
		}
		if req.Normalize != nil {
			normalize = *req.Normalize
		}
	}
	info.inputs = len(inputs)
	res, err := s.embed(r.Context(), sv, inputs, normalize, false)
	if err != nil {
		writeError(w, r, apiHF, err)
		return
	}
	info.backend = res.backend
	setBackend(w, res)
	if single {
		writeJSON(w, http.StatusOK, res.vectors[0])
		return
	}
	writeJSON(w, http.StatusOK, res.vectors)
}

// unprocessable makes a body that parses but has wrong types a 422, as TEI
// answers it; malformed JSON stays 400.
func unprocessable(err error) error {
	if ae, ok := err.(*apiError); ok && ae.param != "" {
		ae.status = http.StatusUnprocessableEntity
	}
	return err
}

func parseHFInputs(raw json.RawMessage, maxInputs int) ([]input, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, badRequest("inputs", "inputs is required")
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" {
			return nil, false, badRequest("inputs", "inputs is an empty string")
		}
		return []input{{text: one}}, true, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, false, &apiError{status: http.StatusUnprocessableEntity, message: "inputs must be a string or a list of strings"}
	}
	switch {
	case len(many) == 0:
		return nil, false, badRequest("inputs", "inputs is empty")
	case len(many) > maxInputs:
		return nil, false, &apiError{status: http.StatusRequestEntityTooLarge,
			message: "batch size " + itoa(len(many)) + " > maximum allowed batch size " + itoa(maxInputs)}
	}
	out := make([]input, len(many))
	for i, t := range many {
		if t == "" {
			return nil, false, badRequest("inputs", "inputs[%d] is an empty string", i)
		}
		out[i] = input{text: t}
	}
	return out, false, nil
}

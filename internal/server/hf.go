package server

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"github.com/hybridembed/hybridembed/local/imageprep"
)

type hfRequest struct {
	Inputs    hfInputs `json:"inputs"`
	Normalize *bool    `json:"normalize"`
	// Truncate false refuses texts over the model's maximum (413, as TEI);
	// absent or true, they are truncated to it.
	Truncate            *bool   `json:"truncate"`
	TruncationDirection string  `json:"truncation_direction"`
	PromptName          *string `json:"prompt_name"`
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

// hfModels serves POST /models/{org}/{name}, as an endpoint's URL is
// used, and, with that URL as a TEI client's base URL, its /embed,
// /tokenize and /pipeline/feature-extraction below it.
func (s *Server) hfModels(w http.ResponseWriter, r *http.Request, body []byte) {
	name, route := s.modelRoute(strings.TrimPrefix(r.URL.Path, "/models/"), featureExtraction, "/embed", "/tokenize")
	if route == "/tokenize" {
		s.teiTokenize(w, r, body, name)
		return
	}
	s.hf(w, r, body, name)
}

// hfModelsGet serves GET /models/{name}/info, TEI's /info below a model's
// base URL.
func (s *Server) hfModelsGet(w http.ResponseWriter, r *http.Request) {
	name, route := s.modelRoute(strings.TrimPrefix(r.URL.Path, "/models/"), "/info")
	if route == "" {
		if _, err := s.lookup(name); err != nil {
			writeError(w, r, apiHF, err)
			return
		}
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, r, apiHF, errMethod(r, []string{http.MethodPost}))
		return
	}
	s.modelInfo(w, r, name)
}

// modelRoute splits what follows /models/ into a model's name and one of
// routes below it. A served name wins over a route: a model may be called
// org/embed.
func (s *Server) modelRoute(rest string, routes ...string) (name, route string) {
	if _, ok := s.models[rest]; ok {
		return rest, ""
	}
	for _, r := range routes {
		if n, ok := strings.CutSuffix(rest, r); ok {
			return n, r
		}
	}
	return rest, ""
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
	if !req.truncate {
		if err := s.checkLengths(r.Context(), sv, req.inputs); err != nil {
			writeError(w, r, apiHF, err)
			return
		}
	}
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
	truncate  bool // texts over the model's maximum are truncated, not refused
}

// parseHFRequest reads a feature-extraction body: JSON {"inputs", ...},
// or an image itself (the body is used as it is, not copied): with an
// image/* Content-Type, or with any but JSON's when its bytes are an
// image's (curl sends application/octet-stream, and
// application/x-www-form-urlencoded with --data-binary). It is a pure
// function of its arguments, so a fuzz test can call it.
func parseHFRequest(contentType string, body []byte, maxInputs int) (hfParsed, error) {
	out := hfParsed{single: true, normalize: true, truncate: true}
	ct, _, _ := mime.ParseMediaType(contentType)
	if strings.HasPrefix(ct, "image/") || !isJSONType(ct) && isImage(body) {
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
	if req.Truncate != nil {
		out.truncate = *req.Truncate
	}
	return out, nil
}

// isJSONType reports whether a media type says JSON (application/json,
// or a +json type): such a body is read as JSON whatever its bytes.
func isJSONType(ct string) bool { return ct == "application/json" || strings.HasSuffix(ct, "+json") }

// isImage reports whether body starts as an image file does: a magic
// number (JPEG, PNG, GIF, WebP, TIFF, HEIF's ftyp box), or BMP's "BM"
// with a header that reads, since text may begin with those two letters.
// A JSON body starts with none of them.
func isImage(body []byte) bool {
	f, ok := imageprep.Sniff(body)
	if !ok {
		return false
	}
	if f == imageprep.BMP {
		_, _, err := imageprep.Config(body)
		return err == nil
	}
	return true
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
		return nil, false, &apiError{status: http.StatusRequestEntityTooLarge, teiType: teiValidation,
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

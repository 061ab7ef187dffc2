package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"unicode/utf8"

	"github.com/hybridembed/hybridembed"
)

// TEI's routes beside its /embed: GET /info and POST /tokenize, with its
// shapes and its validation (text-embeddings-inference's router and
// core/src/tokenization.rs).

// charsPerToken is TEI's MAX_CHAR_MULTIPLIER: a text of more characters
// than this many times the token limit is refused (or cut, when
// truncating) before it is tokenized, so that no text costs more than its
// limit's worth of tokenizing.
const charsPerToken = 250

// TEI's error_type values for the errors it shares with this server.
const (
	teiValidation = "Validation"
	teiEmpty      = "Empty"
)

// errTooLong is TEI's answer to a text over the model's limit when the
// client asked it not to truncate: 413, as TEI answered it through 1.8
// (1.9 answers 422, https://github.com/huggingface/text-embeddings-inference/pull/818),
// with TEI's words.
func errTooLong(format string, args ...any) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error", param: "inputs", teiType: teiValidation,
		message: "Input validation error: " + fmt.Sprintf(format, args...)}
}

// checkLengths refuses, as TEI does with truncate false, a text whose
// tokens (special tokens included) are more than the model reads: first
// by its characters, without tokenizing, then by its tokens. A model whose
// tokenizer is not on this machine (one the router alone serves) has
// nothing to check against: its texts are sent on as before, and the
// router truncates them.
func (s *Server) checkLengths(ctx context.Context, sv *served, inputs []input) error {
	limit, err := sv.model.TokenLimit(ctx)
	switch {
	case errors.Is(err, hybridembed.ErrNotCached), err == nil && limit == 0:
		return nil
	case err != nil:
		return err
	}
	for _, in := range inputs {
		if in.isImage {
			continue
		}
		if n := utf8.RuneCountInString(in.text); n > limit*charsPerToken {
			return errTooLong("`inputs` must have less than %d characters. Given: %d", limit*charsPerToken, n)
		}
		toks, err := sv.model.Tokenize(ctx, in.text, true)
		if err != nil {
			return badRequest("inputs", "%v", err)
		}
		if len(toks) > limit {
			return errTooLong("`inputs` must have less than %d tokens. Given: %d", limit, len(toks))
		}
	}
	return nil
}

// teiInfo is TEI's GET /info.
type teiInfo struct {
	ModelID               string         `json:"model_id"`
	ModelSHA              *string        `json:"model_sha"`
	ModelDtype            string         `json:"model_dtype"`
	ServedModelName       string         `json:"served_model_name"`
	ModelType             map[string]any `json:"model_type"`
	MaxConcurrentRequests int            `json:"max_concurrent_requests"`
	MaxInputLength        int            `json:"max_input_length"`
	MaxBatchTokens        int            `json:"max_batch_tokens"`
	MaxBatchRequests      *int           `json:"max_batch_requests"`
	MaxClientBatchSize    int            `json:"max_client_batch_size"`
	AutoTruncate          bool           `json:"auto_truncate"`
	TokenizationWorkers   int            `json:"tokenization_workers"`
	Version               string         `json:"version"`
	SHA                   *string        `json:"sha"`
	DockerLabel           *string        `json:"docker_label"`
}

// info serves GET /info: what TEI says of its model. A TEI client knows
// one model per server: with several, each has a TEI base URL of its own,
// /models/{name} (its /info, /embed and /tokenize answer as TEI's do),
// and the bare /info says so.
func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	if len(s.names) != 1 {
		writeError(w, r, apiHF, badRequest("", "this server serves %d models, and a TEI client knows one: give it the base URL /models/{model} (its /info, /embed and /tokenize), for one of %s",
			len(s.names), strings.Join(s.names, ", ")))
		return
	}
	s.modelInfo(w, r, s.names[0])
}

// modelInfo serves GET /models/{name}/info.
func (s *Server) modelInfo(w http.ResponseWriter, r *http.Request, name string) {
	infoOf(r).model = name
	sv, err := s.lookup(name)
	if err != nil {
		writeError(w, r, apiHF, err)
		return
	}
	mi := sv.model.Info()
	out := teiInfo{
		ModelID: cmpOr(mi.Repo, name), ModelDtype: dtype(mi.Variant), ServedModelName: name,
		ModelType:             map[string]any{"embedding": map[string]string{"pooling": sv.model.TextPooling(r.Context())}},
		MaxConcurrentRequests: s.cfg.MaxPending, MaxClientBatchSize: s.cfg.MaxInputs, AutoTruncate: true,
		TokenizationWorkers: runtime.GOMAXPROCS(0), Version: hybridembed.Version,
	}
	if mi.Revision != "" {
		out.ModelSHA = &mi.Revision
	}
	// A model the router alone serves has no tokenizer here: its limit is
	// unknown (0).
	if limit, err := sv.model.TokenLimit(r.Context()); err == nil {
		out.MaxInputLength = limit
		out.MaxBatchTokens = limit * s.cfg.MaxInputs
	}
	writeJSON(w, http.StatusOK, out)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// dtype is TEI's model_dtype for an ONNX variant.
func dtype(variant string) string {
	switch strings.ToLower(variant) {
	case "", "fp32":
		return "float32"
	case "fp16":
		return "float16"
	case "bf16":
		return "bfloat16"
	}
	return variant
}

// teiTokenizeRequest is TEI's POST /tokenize body. "model" is this
// server's own, for /tokenize when it serves several models.
type teiTokenizeRequest struct {
	Inputs           hfInputs `json:"inputs"`
	AddSpecialTokens *bool    `json:"add_special_tokens"`
	PromptName       *string  `json:"prompt_name"`
	Model            string   `json:"model"`
}

// teiToken is one token of TEI's /tokenize answer.
type teiToken struct {
	ID      int    `json:"id"`
	Text    string `json:"text"`
	Special bool   `json:"special"`
	Start   *int   `json:"start"`
	Stop    *int   `json:"stop"`
}

// parseTokenizeRequest reads a /tokenize body. It is a pure function of
// its arguments, so a fuzz test can call it.
func parseTokenizeRequest(body []byte, maxInputs int) (texts []string, addSpecial bool, model string, err error) {
	var req teiTokenizeRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, false, "", unprocessable(err)
	}
	in := req.Inputs
	switch {
	case !in.present:
		return nil, false, "", badRequest("inputs", "inputs is required")
	case in.wrong:
		return nil, false, "", &apiError{status: http.StatusUnprocessableEntity, message: "inputs must be a string or a list of strings"}
	case req.PromptName != nil:
		return nil, false, "", &apiError{status: http.StatusUnprocessableEntity, message: "prompt_name is not supported by this server"}
	case len(in.texts) == 0 || in.single && in.texts[0] == "":
		return nil, false, "", &apiError{status: http.StatusBadRequest, teiType: teiEmpty, message: "`inputs` cannot be empty"}
	case len(in.texts) > maxInputs:
		return nil, false, "", &apiError{status: http.StatusRequestEntityTooLarge, teiType: teiValidation,
			message: fmt.Sprintf("batch size %d > maximum allowed batch size %d", len(in.texts), maxInputs)}
	}
	for _, t := range in.texts {
		if t == "" {
			return nil, false, "", &apiError{status: http.StatusBadRequest, teiType: teiEmpty, message: "`inputs` cannot be empty"}
		}
	}
	return in.texts, req.AddSpecialTokens == nil || *req.AddSpecialTokens, req.Model, nil
}

// tokenize serves POST /tokenize: for the one model served, or the one
// the body's "model" names.
func (s *Server) tokenize(w http.ResponseWriter, r *http.Request, body []byte) {
	s.teiTokenize(w, r, body, "")
}

// teiTokenize answers as TEI's /tokenize does: a list of tokens for each
// input (a list of one for a single string), each with its id, the text
// it stands for, whether it is special, and its byte offsets (null for
// special tokens). Texts are not truncated; as in TEI, one of more
// characters than charsPerToken times the model's limit is refused.
func (s *Server) teiTokenize(w http.ResponseWriter, r *http.Request, body []byte, name string) {
	texts, addSpecial, named, err := parseTokenizeRequest(body, s.cfg.MaxInputs)
	if err != nil {
		writeError(w, r, apiHF, err)
		return
	}
	switch {
	case name != "":
	case named != "":
		name = named
	case len(s.names) == 1:
		name = s.names[0]
	default:
		writeError(w, r, apiHF, badRequest("model", "this server serves %d models; name one in \"model\", or post to /models/{model}/tokenize (one of %s)",
			len(s.names), strings.Join(s.names, ", ")))
		return
	}
	info := infoOf(r)
	info.model, info.inputs = name, len(texts)
	sv, err := s.lookup(name)
	if err != nil {
		writeError(w, r, apiHF, err)
		return
	}
	limit, err := sv.model.TokenLimit(r.Context())
	if err != nil {
		writeError(w, r, apiHF, err)
		return
	}
	// The answer is bounded as an embedding request's inputs are: at most
	// as many tokens as MaxInputs texts of the model's limit (or of 512
	// tokens, for a model without one) hold.
	most, listed := s.cfg.MaxInputs*max(limit, 512), 0
	out := make([][]teiToken, len(texts))
	for i, text := range texts {
		if n := utf8.RuneCountInString(text); limit > 0 && n > limit*charsPerToken {
			writeError(w, r, apiHF, errTooLong("`inputs` must have less than %d characters. Given: %d", limit*charsPerToken, n))
			return
		}
		toks, err := sv.model.Tokenize(r.Context(), text, addSpecial)
		if err != nil {
			writeError(w, r, apiHF, badRequest("inputs", "inputs[%d]: %v", i, err))
			return
		}
		if listed += len(toks); listed > most {
			writeError(w, r, apiHF, &apiError{status: http.StatusRequestEntityTooLarge, teiType: teiValidation,
				message: fmt.Sprintf("the inputs make more than %d tokens, more than this server lists in one answer; send fewer or shorter texts", most)})
			return
		}
		out[i] = make([]teiToken, len(toks))
		for k, t := range toks {
			out[i][k] = teiToken{ID: t.ID, Text: t.Text, Special: t.Special}
			if t.Start >= 0 && !t.Special {
				out[i][k].Start, out[i][k].Stop = &toks[k].Start, &toks[k].End
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

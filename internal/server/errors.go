package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hybridembed/hybridembed"
)

// apiKind picks the error body shape a client of that route expects.
type apiKind int

const (
	apiOpenAI apiKind = iota // {"error":{"message","type","param","code"}}
	apiHF                    // {"error":"..."}
	apiByPath                // OpenAI's under /v1/, else HF's (routes that serve both)
)

// forPath is the form r's errors take: api, or for apiByPath the form of
// the API whose paths r's is among.
func (api apiKind) forPath(r *http.Request) apiKind {
	if api != apiByPath {
		return api
	}
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		return apiOpenAI
	}
	return apiHF
}

// apiError is an error with what the client should see.
type apiError struct {
	status     int
	message    string
	typ        string // OpenAI's error type
	param      string
	code       string
	retryAfter int    // seconds, for 429 and 503
	teiType    string // TEI's error_type, on the HF routes, where TEI has one
	challenge  string // the WWW-Authenticate header, for 401
}

func (e *apiError) Error() string { return e.message }

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...), typ: "invalid_request_error", param: param}
}

func errNotFound(format string, args ...any) *apiError {
	return &apiError{status: http.StatusNotFound, message: fmt.Sprintf(format, args...), typ: "invalid_request_error", code: "not_found"}
}

func errMethod(r *http.Request, allow []string) *apiError {
	return &apiError{status: http.StatusMethodNotAllowed, typ: "invalid_request_error", code: "method_not_allowed",
		message: fmt.Sprintf("%s is not served for %s: use %s", r.Method, r.URL.Path, strings.Join(allow, " or "))}
}

func errModelNotFound(name string) *apiError {
	return &apiError{status: http.StatusNotFound, typ: "invalid_request_error", param: "model", code: "model_not_found",
		message: fmt.Sprintf("The model `%s` is not served here (GET /v1/models lists the models that are).", name)}
}

// realm is the protection space a 401 names (RFC 6750, section 3).
const realm = "hybridembed"

// errUnauthorized is the 401 for a request without a usable key, with the
// Bearer challenge RFC 6750 asks for: error="invalid_token" where a bearer
// token was sent and is wrong, no error code where none was sent
// (section 3.1). The body stays OpenAI's.
func errUnauthorized(sentToken bool) *apiError {
	challenge := `Bearer realm="` + realm + `"`
	if sentToken {
		challenge += `, error="invalid_token", error_description="the API key is not one this server accepts"`
	}
	return &apiError{status: http.StatusUnauthorized, typ: "invalid_request_error", code: "invalid_api_key", challenge: challenge,
		message: "Missing or incorrect API key: send Authorization: Bearer KEY."}
}

func errBusy(model string) *apiError {
	return &apiError{status: http.StatusTooManyRequests, typ: "rate_limit_exceeded", code: "rate_limit_exceeded", retryAfter: 1,
		message: fmt.Sprintf("model %s has as many inputs queued as this server admits; retry after 1 second", model)}
}

// classify turns an embedding failure into what the client sees. Inputs
// that fail are the client's fault (400, naming the input); the router
// refusing the server's own token is a gateway error (502), never the
// client's 401; a shutdown or an unreachable model is 503.
func classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var pe *hybridembed.PartialError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error",
			message: fmt.Sprintf("the request body is over this server's limit of %d bytes", mbe.Limit)}
	case errors.As(err, &pe) && len(pe.Failed) > 0:
		f := pe.Failed[0]
		msg := fmt.Sprintf("input[%d]: %v", f.Index, f.Err)
		if len(pe.Failed) > 1 {
			msg += fmt.Sprintf(" (and %d more inputs failed)", len(pe.Failed)-1)
		}
		return badRequest("input", "%s", msg)
	case errors.Is(err, hybridembed.ErrImageTooLarge), errors.Is(err, hybridembed.ErrImageCorrupt),
		errors.Is(err, hybridembed.ErrImageUnsupported), errors.Is(err, hybridembed.ErrNoModality):
		return badRequest("input", "%v", err)
	case errors.Is(err, context.Canceled):
		return &apiError{status: 499, typ: "client_closed_request", message: "the client went away"}
	case errors.Is(err, hybridembed.ErrClosed):
		return &apiError{status: http.StatusServiceUnavailable, typ: "server_error", retryAfter: 5, message: "the server is shutting down"}
	case errors.Is(err, hybridembed.ErrAuth):
		return &apiError{status: http.StatusBadGateway, typ: "server_error",
			message: "the Hugging Face router refused this server's token; the server's operator must fix it"}
	case errors.Is(err, hybridembed.ErrUnavailable), errors.Is(err, hybridembed.ErrNotCached):
		return &apiError{status: http.StatusServiceUnavailable, typ: "server_error", retryAfter: 5, message: err.Error()}
	}
	return &apiError{status: http.StatusInternalServerError, typ: "server_error", message: err.Error()}
}

func writeError(w http.ResponseWriter, r *http.Request, api apiKind, err error) {
	ae := classify(err)
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.retryAfter))
	}
	if ae.challenge != "" {
		w.Header().Set("WWW-Authenticate", ae.challenge)
	}
	if api == apiHF {
		body := map[string]string{"error": ae.message}
		if ae.teiType != "" {
			body["error_type"] = ae.teiType
		}
		writeJSON(w, ae.status, body)
		return
	}
	body := struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		} `json:"error"`
	}{}
	body.Error.Message, body.Error.Type = ae.message, ae.typ
	if ae.param != "" {
		body.Error.Param = &ae.param
	}
	if ae.code != "" {
		body.Error.Code = &ae.code
	}
	writeJSON(w, ae.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// Not HTML-escaped: messages quote TEI's ("batch size 5 > ...") and
	// inputs as they are; the answers are JSON, never HTML.
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

package hftest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// request is a feature-extraction body as text-embeddings-inference reads
// it: inputs, and its parameters at the root of the object.
type request struct {
	texts               []string
	single              bool
	Normalize           *bool
	Truncate            *bool
	PromptName          *string
	TruncationDirection *string
}

type requestError struct {
	status int
	msg    string
}

// rootFields are the fields the feature-extraction route accepts. "options"
// is what older clients sent ({"wait_for_model": ...}); it is accepted and
// ignored, as the spec advises.
var rootFields = map[string]bool{"inputs": true, "normalize": true, "prompt_name": true, "truncate": true, "truncation_direction": true, "options": true}

// parseRequest is strict where the real server is: a nested "parameters"
// object (other tasks' form) or any unknown field is a 422, and so is a
// field of the wrong type.
func parseRequest(body []byte) (request, *requestError) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return request{}, &requestError{http.StatusBadRequest, "Failed to deserialize the JSON body: " + err.Error()}
	}
	var unknown []string
	for k := range raw {
		if !rootFields[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return request{}, &requestError{http.StatusUnprocessableEntity, fmt.Sprintf(
			"Failed to deserialize the JSON body into the target type: unknown field `%s`, expected one of `inputs`, `normalize`, `prompt_name`, `truncate`, `truncation_direction`",
			strings.Join(unknown, "`, `"))}
	}
	var req request
	in, ok := raw["inputs"]
	if !ok {
		return req, &requestError{http.StatusUnprocessableEntity, "Failed to deserialize the JSON body into the target type: missing field `inputs`"}
	}
	if err := json.Unmarshal(in, &req.texts); err != nil {
		var one string
		if err := json.Unmarshal(in, &one); err != nil {
			return req, &requestError{http.StatusUnprocessableEntity, "Failed to deserialize the JSON body into the target type: inputs: expected a string or a list of strings"}
		}
		req.texts, req.single = []string{one}, true
	}
	if len(req.texts) == 0 {
		return req, &requestError{http.StatusBadRequest, "Input validation error: `inputs` cannot be empty"}
	}
	for name, dst := range map[string]any{"normalize": &req.Normalize, "truncate": &req.Truncate, "prompt_name": &req.PromptName, "truncation_direction": &req.TruncationDirection} {
		if v, ok := raw[name]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return req, &requestError{http.StatusUnprocessableEntity, fmt.Sprintf("Failed to deserialize the JSON body into the target type: %s: %v", name, err)}
			}
		}
	}
	if d := req.TruncationDirection; d != nil && *d != "Left" && *d != "Right" {
		return req, &requestError{http.StatusUnprocessableEntity, fmt.Sprintf("Failed to deserialize the JSON body into the target type: truncation_direction: unknown variant `%s`, expected `Left` or `Right`", *d)}
	}
	return req, nil
}

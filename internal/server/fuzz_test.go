package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fuzzMaxInputs and fuzzMaxBody keep the limits within the fuzzer's reach.
const (
	fuzzMaxInputs = 8
	fuzzMaxBody   = 64 << 10
)

// fuzzRequest is a POST of body as a client sends it, through the body
// limit the server applies.
func fuzzRequest(body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, fuzzMaxBody)
	return r
}

// checkParsed holds what every parse must give: a client error (400, 413
// or 422, as an apiError, or the body limit's error) or 1..max inputs,
// each a non-empty text or a non-empty image.
func checkParsed(t *testing.T, inputs []input, err error) {
	t.Helper()
	if err != nil {
		var ae *apiError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
		case !errors.As(err, &ae):
			t.Fatalf("not an API error: %T %v", err, err)
		case ae.status != http.StatusBadRequest && ae.status != http.StatusRequestEntityTooLarge && ae.status != http.StatusUnprocessableEntity:
			t.Fatalf("status %d for a client's request: %v", ae.status, err)
		case ae.message == "":
			t.Fatal("an API error without a message")
		}
		return
	}
	if len(inputs) == 0 || len(inputs) > fuzzMaxInputs {
		t.Fatalf("%d inputs (at most %d)", len(inputs), fuzzMaxInputs)
	}
	for i, in := range inputs {
		if in.isImage && (len(in.image) == 0 || in.text != "") || !in.isImage && (in.text == "" || in.image != nil) {
			t.Fatalf("input %d: text %q, image of %d bytes, isImage %v", i, in.text, len(in.image), in.isImage)
		}
	}
}

// FuzzOpenAIRequest parses /v1/embeddings bodies as the handler does
// (decodeJSON, then parseOpenAIInput: strings, arrays, content parts,
// infinity's image modality with data URIs), and checks checkParsed's
// rules. The second argument is an image: sent as a data URI in a content
// part, it must come back byte for byte.
func FuzzOpenAIRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body, img []byte) {
		var req openAIRequest
		err := decodeJSON(fuzzRequest(body), &req)
		var inputs []input
		if err == nil {
			inputs, err = parseOpenAIInput(req.Input, req.Modality, fuzzMaxInputs)
		}
		checkParsed(t, inputs, err)

		uri := "data:image/png;base64," + base64.StdEncoding.EncodeToString(img)
		part, _ := json.Marshal(map[string]any{"model": "m", "input": []any{
			map[string]any{"type": "image_url", "image_url": map[string]string{"url": uri}}}})
		req = openAIRequest{}
		if err := decodeJSON(fuzzRequest(part), &req); err != nil {
			t.Fatalf("a content part: %v", err)
		}
		inputs, err = parseOpenAIInput(req.Input, req.Modality, fuzzMaxInputs)
		checkParsed(t, inputs, err)
		if len(img) == 0 {
			if err == nil {
				t.Fatal("an empty image was accepted")
			}
			return
		}
		if err != nil {
			t.Fatalf("a %d-byte image in a data URI: %v", len(img), err)
		}
		if !inputs[0].isImage || !bytes.Equal(inputs[0].image, img) {
			t.Fatalf("a %d-byte image in a data URI came back as %d bytes", len(img), len(inputs[0].image))
		}
	})
}

// FuzzHFRequest parses feature-extraction bodies as the HF handler does
// (decodeJSON, then parseHFInputs) and checks checkParsed's rules; a
// single string must be single, a list must not be.
func FuzzHFRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		var req hfRequest
		err := decodeJSON(fuzzRequest(body), &req)
		var inputs []input
		single := false
		if err == nil {
			inputs, single, err = parseHFInputs(req.Inputs, fuzzMaxInputs)
		}
		checkParsed(t, inputs, err)
		if err == nil && single != (req.Inputs[0] == '"') {
			t.Fatalf("inputs %s parsed as single=%v", req.Inputs, single)
		}
	})
}

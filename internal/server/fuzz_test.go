package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
)

// fuzzMaxInputs keeps the input limit within the fuzzer's reach.
const fuzzMaxInputs = 8

// checkParsed holds what every parse must give: a client error (400, 413
// or 422, as an apiError with a message) or 1..max inputs, each a
// non-empty text or a non-empty image.
func checkParsed(t *testing.T, inputs []input, err error) {
	t.Helper()
	if err != nil {
		var ae *apiError
		switch {
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

// FuzzOpenAIRequest parses /v1/embeddings bodies with the handler's own
// parseOpenAIRequest (strings, arrays, content parts, infinity's image
// modality with data URIs), and checks checkParsed's rules. The second
// argument is an image: sent as a data URI in a content part, it must come
// back byte for byte.
func FuzzOpenAIRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body, img []byte) {
		_, inputs, err := parseOpenAIRequest(body, fuzzMaxInputs)
		checkParsed(t, inputs, err)

		uri := "data:image/png;base64," + base64.StdEncoding.EncodeToString(img)
		part, _ := json.Marshal(map[string]any{"model": "m", "input": []any{
			map[string]any{"type": "image_url", "image_url": map[string]string{"url": uri}}}})
		_, inputs, err = parseOpenAIRequest(part, fuzzMaxInputs)
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

// FuzzHFRequest parses feature-extraction bodies with the handler's own
// parseHFRequest, as JSON and as an image/* body, and checks checkParsed's
// rules; a JSON string is answered with one vector, a list with a list;
// an image body is the image, byte for byte.
func FuzzHFRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseHFRequest("application/json", body, fuzzMaxInputs)
		checkParsed(t, req.inputs, err)
		if err == nil {
			var probe struct{ Inputs json.RawMessage }
			if json.Unmarshal(body, &probe) != nil || len(probe.Inputs) == 0 || req.single != (probe.Inputs[0] == '"') {
				t.Fatalf("inputs %s parsed as single=%v", probe.Inputs, req.single)
			}
		}
		req, err = parseHFRequest("image/jpeg", body, fuzzMaxInputs)
		checkParsed(t, req.inputs, err)
		if (err == nil) != (len(body) > 0) || err == nil && (!req.single || !bytes.Equal(req.inputs[0].image, body)) {
			t.Fatalf("an image body of %d bytes: %v", len(body), err)
		}
	})
}

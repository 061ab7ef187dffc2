package hftest_test

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hybridembed/hybridembed/internal/testdata"
	"github.com/hybridembed/hybridembed/remote/hftest"
)

const model = "sentence-transformers/all-MiniLM-L6-v2"

// TestOfficialJSClientAccepted runs the real @huggingface/inference client
// against the emulator: the emulator must accept exactly what it sends, and
// the client must read what the emulator answers.
func TestOfficialJSClientAccepted(t *testing.T) {
	dir := testdata.NodeClients(t)
	s := hftest.New(t)
	ref := testdata.TinySTReference(t)
	s.ServeReference(t, model, ref)
	s.Limit(model, 4, func(text string) int { return ref.Tokens[text] })
	endpoint := s.URL + "/hf-inference/models/" + model + "/pipeline/feature-extraction"
	texts := []string{"This is an example sentence", "Each sentence is converted"}

	call := func(request string) map[string]json.RawMessage {
		t.Helper()
		out, err := exec.Command("node", "testdata/hfjs_feature_extraction.cjs", dir, endpoint, "hf_test_token", request).Output()
		require.NoError(t, err, string(out))
		var res map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(out, &res), string(out))
		return res
	}

	res := call(`{"inputs": ["This is an example sentence", "Each sentence is converted"], "truncate": true, "normalize": true}`)
	require.Contains(t, res, "output", string(res["error"]))
	var vecs [][]float32
	require.NoError(t, json.Unmarshal(res["output"], &vecs))
	require.Len(t, vecs, 2)
	for i, text := range texts {
		assert.InDeltaSlice(t, ref.Pipeline[text], vecs[i], 1e-6, text)
	}
	last := s.Requests()[len(s.Requests())-1]
	assert.JSONEq(t, `{"inputs":["This is an example sentence","Each sentence is converted"],"truncate":true,"normalize":true}`, string(last.Body))
	assert.Equal(t, "Bearer hf_test_token", last.Header.Get("Authorization"))
	assert.Contains(t, last.Header.Get("User-Agent"), "@huggingface/inference/")

	// One string in, one vector out; normalize: false gives the pooled vector.
	res = call(`{"inputs": "Each sentence is converted", "truncate": true, "normalize": false}`)
	var one []float32
	require.NoError(t, json.Unmarshal(res["output"], &one), string(res["error"]))
	assert.InDeltaSlice(t, ref.Raw[texts[1]], one, 1e-6)

	// Over the limit without truncate: the client reports the validation error.
	res = call(`{"inputs": ["This is an example sentence"]}`)
	assert.Contains(t, string(res["error"]), "must have less than 4 tokens")
	assert.Equal(t, "413", string(res["status"]))
}

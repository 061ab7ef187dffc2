package remote

import "encoding/json"

// hfInference is Hugging Face's own serverless provider: the
// feature-extraction pipeline of text-embeddings-inference
// (huggingface.js providers/hf-inference.ts, HFInferenceFeatureExtractionTask).
type hfInference struct{}

func (hfInference) route(providerID string) string {
	return "models/" + modelPath(providerID) + "/pipeline/feature-extraction"
}

// maxInputs is text-embeddings-inference's default --max-client-batch-size.
func (hfInference) maxInputs() int { return 32 }

func (hfInference) serves(task string) bool {
	return task == "feature-extraction" || task == "sentence-similarity"
}

// body puts the parameters at the root of the object, beside inputs
// (text-embeddings-inference's schema; huggingface_hub and
// @huggingface/inference send them so). A nested "parameters" object is
// other tasks' form, which a feature-extraction server ignores or refuses.
func (hfInference) body(_ string, inputs []string, p Params) ([]byte, error) {
	return json.Marshal(struct {
		Inputs []string `json:"inputs"`
		Params
	}{inputs, p})
}

func (hfInference) parse(body []byte, n int, pool Pooling) ([][]float32, error) {
	return parseVectors(body, n, pool)
}

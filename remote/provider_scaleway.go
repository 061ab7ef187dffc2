package remote

// scaleway is Scaleway Generative APIs' OpenAI-compatible embeddings API
// (huggingface.js providers/scaleway.ts, ScalewayFeatureExtractionTask;
// huggingface_hub _providers/scaleway.py). Scaleway documents input as "a
// string or array" with no limit on its length (scaleway.com, "Using
// Embeddings API"), only per-minute request and token quotas, so requests
// carry the conservative default.
var scaleway = openAIEmbeddings{path: "v1/embeddings", max: unpublishedMaxInputs}

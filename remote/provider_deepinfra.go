package remote

// deepInfra is DeepInfra's OpenAI-compatible embeddings API under
// /v1/openai (huggingface.js providers/deepinfra.ts,
// DeepInfraFeatureExtractionTask; huggingface_hub _providers/deepinfra.py).
// Its API reference (docs.deepinfra.com, "Openai Embeddings") caps input
// at 1024 sequences a request.
var deepInfra = openAIEmbeddings{path: "v1/openai/embeddings", max: 1024}

package remote

// together is Together AI's OpenAI-compatible embeddings API
// (huggingface.js providers/together.ts, TogetherFeatureExtractionTask;
// huggingface_hub _providers/together.py). Together publishes no limit on
// inputs per request (docs.together.ai, "Create embedding": input is a
// string or a list of strings), so requests carry the conservative
// default.
var together = openAIEmbeddings{path: "v1/embeddings", max: unpublishedMaxInputs}

// unpublishedMaxInputs is the inputs per request for providers that
// publish no limit: text-embeddings-inference's default batch, which the
// providers' own deployments accept; [Client.MaxInputs] raises it.
const unpublishedMaxInputs = 32

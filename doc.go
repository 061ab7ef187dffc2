// Package hybridembed turns text and images into embedding vectors, using the
// inference providers of the Hugging Face router when one serves a model
// and ONNX Runtime on this machine when none does, or when there is no
// network at all.
//
// Create an [Embedder] once and reuse it:
//
//	e, err := hybridembed.New()
//	if err != nil { ... }
//	defer e.Close()
//	vecs, err := e.EmbedImages(ctx, "openai/clip-vit-base-patch32",
//		[]hybridembed.Image{hybridembed.ImageFile("cat.jpg")})
//
// A model is a directory in any layout Hugging Face users have
// (transformers.js/Xenova onnx/, Optimum exports, single-tower model.onnx)
// or a model id found in the local Hugging Face cache. Every [Embedding]
// records the model, revision, backend and provider that made it.
//
// # Layout
//
// This package is the public API; the command-line tool in cmd/hybridembed
// is a thin client of it. The parts:
//
//   - local: ONNX Runtime sessions, model layouts, CLIP towers and sentence
//     encoders, image preprocessing (local/imageprep) and tokenizers
//     (local/tokenize), all matching the Python references numerically.
//   - remote: the router and Hub API client, one adapter per inference
//     provider, with typed errors and retries; remote/hftest emulates both
//     over real HTTP for tests.
//   - models: the Hugging Face cache layout, the registry of known models,
//     verified downloads and offline bundles.
package hybridembed

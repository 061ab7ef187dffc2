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
// This package is the public API: [Embedder], [Model], [Embedding], the
// options and the errors. The command-line tool in cmd/hybridembed is a
// client of it, as any program is: it imports this package and internal/
// only. The parts:
//
//   - local: the ONNX Runtime engine: model layouts, CLIP towers and
//     sentence encoders, batching; image preprocessing (local/imageprep)
//     and tokenizers (local/tokenize), matching the Python references
//     numerically; the runtime and its sessions on CPU or CUDA (local/ort,
//     its CUDA library search in local/ort/cuda); libjpeg-turbo
//     (local/turbojpeg). local/localtest and local/ort/orttest help tests.
//   - remote: the router and Hub API client, one adapter per inference
//     provider, with typed errors and retries; remote/hftest emulates both
//     over real HTTP for tests.
//   - models: the Hugging Face cache (huggingface_hub's layout), the
//     registry of known models, verified downloads, folders added to the
//     cache and offline bundles; models/layout knows where files live and
//     which files make a model; models/modelstest builds caches for tests.
//   - internal: what the command-line tool and the server build on this
//     package: a photo library's index (internal/index) and its walk
//     (internal/library), sharded Parquet and NPY datasets
//     (internal/dataset), the HTTP server (internal/server), the search
//     gallery page (internal/gallery), the runtime report of `hybridembed
//     doctor` (internal/doctor), the one atomic file writer
//     (internal/atomicfile), content hashes (internal/filehash), pooling
//     and normalisation (internal/pooling), and the tests' fixtures
//     (internal/fixtures).
package hybridembed

// Package models owns every model file on disk: the Hugging Face hub cache
// (read exactly as huggingface_hub writes it), the registry of known
// models and where model ids resolve to, verified downloads and bundles.
// Where those files live, and how a model directory is laid out, is its
// subpackage layout, which the engine uses without linking the network.
package models

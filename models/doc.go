// Package models owns every model file on disk: the Hugging Face hub cache
// (read exactly as huggingface_hub writes it), hybridembed's own cache
// directory, and where model ids resolve to.
package models

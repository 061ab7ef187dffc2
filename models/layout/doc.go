// Package layout knows where model files live (hybridembed's and
// huggingface_hub's directories) and which files of a model directory are
// its graphs, variants and configs. It reads only the environment and
// asks its callers whether a file exists, so the engine can use it without
// linking the network code of package models.
package layout

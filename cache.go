package hybridembed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/agnivade/levenshtein"

	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/models"
	"github.com/hybridembed/hybridembed/models/layout"
)

// The local model cache is huggingface_hub's (see [WithHubCache]): what
// these methods list, check, add, remove, export and import, Python's
// huggingface_hub reads and writes too.

// CachedModel is one model repo in the local Hugging Face cache.
type CachedModel struct {
	ID        string            // the repo id
	Dir       string            // its folder, models--org--name
	Refs      map[string]string // revision names (main) and their commits
	Snapshots []string          // the commits it has files of
	Size      int64             // bytes on disk
	// KnownAs is the known model whose files the repo holds, when that is
	// another id (Xenova/clip-vit-base-patch32 holds
	// openai/clip-vit-base-patch32's).
	KnownAs string
}

// CachedModels lists the model repos in the cache, sorted by id.
func (e *Embedder) CachedModels() ([]CachedModel, error) {
	repos, err := e.cache.List()
	if err != nil {
		return nil, err
	}
	out := make([]CachedModel, len(repos))
	for i, r := range repos {
		out[i] = CachedModel{ID: r.ID, Dir: r.Dir, Refs: r.Refs, Snapshots: r.Snapshots, Size: r.Size}
		if k, ok := models.Lookup(r.ID); ok && k.ID != r.ID {
			out[i].KnownAs = k.ID
		}
	}
	return out, nil
}

// KnownModel is a model hybridembed knows by name: [Embedder.Pull]
// fetches its ONNX files from Repo.
type KnownModel struct {
	ID       string
	Repo     string // the Hub repo with its ONNX files
	Family   string // "clip", "sentence", ...
	Dim      int    // the vector size
	Params   int64  // parameters, as its model card gives them; 0 when not known
	Variants []string
}

// KnownModels lists the models hybridembed knows by name, as fastembed's
// list_supported_models does. Other Hub ids work too when their repo has
// ONNX files in a layout the engine reads.
func KnownModels() []KnownModel {
	var out []KnownModel
	for _, k := range models.Known() {
		out = append(out, KnownModel{ID: k.ID, Repo: k.Repo, Family: string(k.Family), Dim: k.Dim, Params: k.Params(), Variants: k.VariantNames()})
	}
	return out
}

// SimilarModels lists the cached and known model ids that name (a model
// id that is not cached, say) may be a misspelling of, closest first: for
// a "did you mean". It reads only the cache folder.
func (e *Embedder) SimilarModels(name string) []string {
	id := strings.ToLower(modelID(name))
	if id == "" {
		return nil
	}
	if _, known := models.Lookup(modelID(name)); known {
		return nil // not a misspelling
	}
	seen := map[string]bool{}
	type cand struct {
		id   string
		dist int
	}
	var cands []cand
	consider := func(c string) {
		if seen[c] || c == modelID(name) {
			return
		}
		seen[c] = true
		lc := strings.ToLower(c)
		d := levenshtein.ComputeDistance(id, lc)
		// The name part alone, for an id given without its org or with
		// the wrong one.
		if _, short, ok := strings.Cut(lc, "/"); ok && !strings.Contains(id, "/") {
			d = min(d, levenshtein.ComputeDistance(id, short))
		}
		if d <= max(2, len(id)/8) {
			cands = append(cands, cand{c, d})
		}
	}
	if repos, err := e.cache.List(); err == nil {
		for _, r := range repos {
			consider(r.ID)
		}
	}
	for _, k := range models.Known() {
		consider(k.ID)
	}
	sort.SliceStable(cands, func(a, b int) bool { return cands[a].dist < cands[b].dist })
	out := make([]string, 0, len(cands))
	for _, c := range cands {
		out = append(out, c.id)
	}
	return out
}

// File statuses of a [ModelCheck].
const (
	FileOK      = "ok"      // its content matches the checksum its blob is named by
	FileCorrupt = "corrupt" // it does not
	FileMissing = "missing" // the snapshot names it, and its blob is not there
	// FileUnverifiable: there is no checksum to check it against (a plain
	// file in a copied cache).
	FileUnverifiable = "unverifiable"
	// FilePresent: a file of a model folder, read whole; folders have no
	// checksums.
	FilePresent = "present"
)

// FileCheck is one file of a model, as [Embedder.VerifyModel] found it.
type FileCheck struct {
	Path   string // relative to the model's folder, with forward slashes
	Status string // FileOK, FileCorrupt, FileMissing, FileUnverifiable or FilePresent
	Err    error  // what is wrong, for FileCorrupt and FileMissing
}

// ModelCheck is what [Embedder.VerifyModel] found of a model's files.
type ModelCheck struct {
	Name     string // as asked for
	Repo     string // the cache repo the files are in; "" for a folder
	Revision string // the commit of the cached files
	Dir      string
	Files    []FileCheck
}

// Bad counts the files that are corrupt or missing.
func (c ModelCheck) Bad() int {
	n := 0
	for _, f := range c.Files {
		if f.Status == FileCorrupt || f.Status == FileMissing {
			n++
		}
	}
	return n
}

// VerifyModel checks a model's files: a cached model's against the
// checksums its blobs are named by (sha256 for LFS files, git's sha1 for
// others), re-reading every byte; a model folder's, that each file its
// vectors depend on is there and readable. It does not load the model
// (see [Model.Load]).
func (e *Embedder) VerifyModel(name string) (ModelCheck, error) {
	if st, err := os.Stat(name); err == nil {
		if !st.IsDir() {
			return ModelCheck{}, notADirectory(name)
		}
		return e.verifyFolder(name)
	}
	id, rev, _ := strings.Cut(name, "@")
	loc, files, err := e.cache.Verify(id, rev)
	if err != nil {
		return ModelCheck{}, e.notCached(name, err)
	}
	c := ModelCheck{Name: name, Repo: loc.Repo, Revision: loc.Commit, Dir: loc.Dir}
	for _, f := range files {
		c.Files = append(c.Files, FileCheck{Path: f.Path, Status: f.Status, Err: f.Err})
	}
	return c, nil
}

func (e *Embedder) verifyFolder(dir string) (ModelCheck, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ModelCheck{}, err
	}
	desc, err := local.Describe(abs, e.cfg.variant)
	if err != nil {
		return ModelCheck{}, fmt.Errorf("model %s: %w", dir, err)
	}
	c := ModelCheck{Name: dir, Dir: abs}
	for _, f := range desc.Files {
		rel, _ := filepath.Rel(abs, f)
		fc := FileCheck{Path: filepath.ToSlash(rel), Status: FilePresent}
		if _, err := fileSHA256(f); err != nil {
			fc.Status, fc.Err = FileMissing, err
		}
		c.Files = append(c.Files, fc)
	}
	sort.Slice(c.Files, func(a, b int) bool { return c.Files[a].Path < c.Files[b].Path })
	return c, nil
}

// notCached turns the cache's not-cached error for name into a
// *NotCachedError, which names the command that fetches it.
func (e *Embedder) notCached(name string, err error) error {
	if errors.Is(err, models.ErrNotCached) {
		return &NotCachedError{Model: name, Cache: e.cache.Root(), Err: err}
	}
	return err
}

// RemoveModel deletes the cached repo name resolves to, every revision of
// it, and returns the repo and the bytes freed. Model folders are never
// removed: only what is in the cache.
func (e *Embedder) RemoveModel(name string) (repo string, freed int64, err error) {
	if st, err := os.Stat(name); err == nil && st.IsDir() {
		return "", 0, fmt.Errorf("%s is a model folder, not a model in the cache: only cached models are removed", name)
	}
	repo, freed, err = e.cache.Remove(modelID(name))
	if err != nil {
		return "", 0, e.notCached(name, err)
	}
	return repo, freed, nil
}

// Compression of a bundle ([Embedder.ExportModels]).
type Compression string

const (
	CompressionNone Compression = "none" // a plain .tar
	CompressionGzip Compression = "gzip" // .tar.gz, .tgz
	CompressionZstd Compression = "zstd" // .tar.zst, .tzst
)

// BundleCompression is the compression a bundle file name says (.tar,
// .tar.gz, .tgz, .tar.zst, .tzst); another name is an error, since a
// bundle is a tar and its name should say so.
func BundleCompression(name string) (Compression, error) {
	c, ok := models.CompressionFor(name)
	if !ok {
		return "", fmt.Errorf("%s: a bundle is a tar archive: name it .tar, .tar.gz (or .tgz) or .tar.zst (or .tzst)", name)
	}
	return Compression(c), nil
}

// BundleModel is one model for [Embedder.ExportModels]: a cached model
// (Name "org/name", with an optional "@revision"), or a model folder Dir,
// carried under the repo id Name as [Embedder.AddModel] would add it.
type BundleModel struct {
	Name string
	Dir  string
}

// ExportModels writes models to w as a bundle for machines with no
// network: a tar (compressed as c) of their cache folders, as
// huggingface_hub lays them out, with a manifest of every file's size and
// sha256. [Embedder.ImportModels] reads it on the other side.
func (e *Embedder) ExportModels(w io.Writer, c Compression, list []BundleModel) error {
	var bms []models.BundleModel
	for _, m := range list {
		if m.Dir == "" {
			if st, err := os.Stat(m.Name); err == nil && st.IsDir() {
				return fmt.Errorf("%s is a model folder: name it in the bundle, as ORG/NAME=%s", m.Name, m.Name)
			}
			if _, err := e.cache.Locate(modelID(m.Name), revisionOf(m.Name)); err != nil {
				return e.notCached(m.Name, err)
			}
			bms = append(bms, models.BundleModel{ID: m.Name})
			continue
		}
		files, _, err := modelFolderFiles(m.Dir, e.cfg.variant)
		if err != nil {
			return err
		}
		bms = append(bms, models.BundleModel{ID: m.Name, Dir: m.Dir, Files: files})
	}
	return e.cache.Export(w, models.Compression(c), bms)
}

func revisionOf(name string) string {
	_, rev, _ := strings.Cut(name, "@")
	return rev
}

// ImportedModel is one model [Embedder.ImportModels] added to the cache.
type ImportedModel struct {
	Name     string // as it was exported
	Repo     string // the cache repo its files are in
	Revision string
	Files    int
}

// ImportModels adds the models of a bundle to the cache after checking
// all of it (paths, links, every checksum): on any failure the cache is
// left as it was.
func (e *Embedder) ImportModels(r io.Reader) ([]ImportedModel, error) {
	imp, err := e.cache.Import(r)
	out := make([]ImportedModel, len(imp))
	for i, m := range imp {
		out[i] = ImportedModel{Name: m.ID, Repo: m.Repo, Revision: m.Commit, Files: m.Files}
	}
	return out, err
}

// AddOptions choose how [Embedder.AddModel] adds a folder.
type AddOptions struct {
	// Replace lets the folder become the main revision of a repo whose
	// main revision came from elsewhere (a pull from the Hub).
	Replace bool
}

// AddedModel is what [Embedder.AddModel] put in the cache.
type AddedModel struct {
	Name     string
	Revision string // the commit its snapshot is filed under
	Dir      string // the snapshot folder
	Files    int
	Bytes    int64 // of its files
	New      int64 // of blobs that were not cached before
	// Skipped are the folder's files left out: weights in formats the
	// engine does not read (.safetensors, .bin, ...).
	Skipped []string
}

// AddModel puts the model folder dir into the cache as repo id
// ("org/name"), as huggingface_hub lays out what it downloads: each file
// in blobs/ under its sha256, a snapshot of links to them, refs/main
// naming it. The revision is a hash of the files (the same folder always
// gives the same one; an edited folder a new one). After it, id works as
// a model anywhere a cached model does, offline. Hidden files and
// folders, and weights in other formats than ONNX, are left out; dir must
// hold a model the engine can load.
func (e *Embedder) AddModel(ctx context.Context, id, dir string, opts AddOptions) (AddedModel, error) {
	if err := models.ValidateID(id); err != nil {
		return AddedModel{}, err
	}
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		return AddedModel{}, err
	case !st.IsDir():
		return AddedModel{}, notADirectory(dir)
	}
	files, skipped, err := modelFolderFiles(dir, e.cfg.variant)
	if err != nil {
		return AddedModel{}, err
	}
	a, err := e.cache.Add(ctx, id, dir, files, models.AddOptions{Replace: opts.Replace})
	if err != nil {
		return AddedModel{}, err
	}
	return AddedModel{Name: id, Revision: a.Commit, Dir: a.Dir, Files: a.Files, Bytes: a.Bytes, New: a.New, Skipped: skipped}, nil
}

// otherWeights are the weight files of other frameworks, which the engine
// never reads: a folder's copies are not carried into the cache.
var otherWeights = []string{".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".ot", ".tflite", ".gguf", ".npz"}

// modelFolderFiles lists a model folder's files for the cache: every file
// but hidden ones and other frameworks' weights, keeping whatever a
// variant's graphs need (external data files have any name). The folder
// must describe as a model for at least its variant.
func modelFolderFiles(dir, variant string) (files, skipped []string, err error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, err
	}
	var all, graphs []string
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != abs && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			return nil // a dangling link, a socket: not a model file
		}
		rel, _ := filepath.Rel(abs, p)
		rel = filepath.ToSlash(rel)
		all = append(all, rel)
		if path.Ext(rel) == ".onnx" {
			graphs = append(graphs, rel)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	needed := map[string]bool{}
	variants := append([]string{variant}, layout.Variants(graphs)...)
	var firstErr error
	described := false
	for _, v := range variants {
		if v == "fp32" {
			v = ""
		}
		desc, err := local.Describe(abs, v)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		described = true
		for _, f := range desc.Files {
			rel, _ := filepath.Rel(abs, f)
			needed[filepath.ToSlash(rel)] = true
		}
	}
	if !described {
		return nil, nil, fmt.Errorf("%s is not a model folder hybridembed can load: %w", dir, firstErr)
	}
	for _, f := range all {
		if !needed[f] && isOtherWeights(f) {
			skipped = append(skipped, f)
			continue
		}
		files = append(files, f)
	}
	return files, skipped, nil
}

func isOtherWeights(p string) bool {
	ext := strings.ToLower(path.Ext(p))
	for _, w := range otherWeights {
		if ext == w {
			return true
		}
	}
	return false
}

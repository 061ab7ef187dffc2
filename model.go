package hybridembed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/models"
)

// Model is a model resolved once: where its files are (if they are on this
// machine), which revision and variant, and a digest of its graph files.
// Get one from [Embedder.Model] and reuse it for many calls; its Info is
// what an index or a dataset keys vectors on. A Model is safe for
// concurrent use; it is only valid while its Embedder is open.
type Model struct {
	e    *Embedder
	name string
	loc  location // loc.dir is "" when the model is not on this machine
	// locErr is why it is not on this machine (nil when it is).
	locErr error
	info   ModelInfo
}

// ModelInfo identifies a model and the files that compute its vectors.
type ModelInfo struct {
	Name     string `json:"name"`               // as asked for
	Repo     string `json:"repo,omitempty"`     // the Hub repo id, for cached models
	Revision string `json:"revision,omitempty"` // the commit of the local files
	Variant  string `json:"variant,omitempty"`  // "" for fp32, "quantized", "fp16" ...
	// Digest is a sha256 over the graph files' paths and contents (the
	// blob names in the HF cache, hashed once per file version for a
	// directory), so vectors of a directory model before and after an edit
	// can be told apart. "" when the model is not on this machine.
	Digest string `json:"digest,omitempty"`
	Dir    string `json:"dir,omitempty"`
	// Family is what kind of model it is: clip, siglip, siglip2, mclip
	// (a multilingual text tower beside an OpenCLIP image tower) or
	// sentence. It is part of Digest, so that vectors of one set of files
	// read as two families are never taken for one another.
	Family     string     `json:"family,omitempty"`
	Layout     string     `json:"layout,omitempty"`     // transformers.js, immich or model.onnx; "" when not on this machine
	Dim        int        `json:"dim,omitempty"`        // from config.json; 0 when unknown
	Modalities []Modality `json:"modalities,omitempty"` // what the local files embed
	Cached     bool       `json:"cached"`               // the files are on this machine
}

// Has reports whether the model's local files embed modality.
func (i ModelInfo) Has(modality Modality) bool {
	for _, m := range i.Modalities {
		if m == modality {
			return true
		}
	}
	return false
}

// Model resolves name (a directory, or a Hub id with an optional
// @revision) once. A model that is not cached still gets a handle: its text
// may be served by the router; calls that need the local files then fail
// with ErrNotCached.
func (e *Embedder) Model(ctx context.Context, name string) (m *Model, err error) {
	_, end, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer end(&err)
	return e.resolve(name)
}

// resolve locates name and reads what it can without loading anything.
func (e *Embedder) resolve(name string) (*Model, error) {
	m := &Model{e: e, name: name, info: ModelInfo{Name: name, Variant: e.cfg.variant}}
	loc, err := e.locate(name)
	if err != nil {
		if !isNotCached(err) {
			return nil, err
		}
		m.locErr = err
		if entry, ok := models.Lookup(modelID(name)); ok {
			m.info.Family = string(entry.Family)
		}
		return m, nil
	}
	m.loc = loc
	m.info.Repo, m.info.Revision, m.info.Variant, m.info.Dir, m.info.Cached = loc.repo, loc.revision, loc.variant, loc.dir, true
	desc, err := local.Describe(loc.dir, loc.variant)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	m.info.Family, m.info.Layout, m.info.Dim = string(desc.Family), string(desc.Layout), desc.Dim
	if desc.Text {
		m.info.Modalities = append(m.info.Modalities, ModalityText)
	}
	if desc.Image {
		m.info.Modalities = append(m.info.Modalities, ModalityImage)
	}
	if m.info.Digest, err = digest(loc.dir, desc.Graphs, desc.Family); err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	return m, nil
}

// Info is what the model was resolved to.
func (m *Model) Info() ModelInfo {
	info := m.info
	info.Modalities = append([]Modality(nil), info.Modalities...)
	return info
}

// Load loads the model's local files and opens its sessions now, so that
// the first call does not pay for it (a server's readiness). It never
// touches the network; a model that is not on this machine has nothing
// to load and returns its not-cached error.
func (m *Model) Load(ctx context.Context) (err error) {
	_, lm, done, err := m.holdLocal(ctx)
	if err != nil {
		return err
	}
	defer done(&err)
	if err := lm.Open(); err != nil {
		return fmt.Errorf("model %s: %w", m.name, err)
	}
	return nil
}

// Local is nil when the model's files are on this machine, else why not
// (a *NotCachedError, which matches ErrNotCached).
func (m *Model) Local() error { return m.locErr }

// Name is the model as asked for.
func (m *Model) Name() string { return m.name }

// location is where a model's files are.
type location struct {
	dir      string
	revision string
	repo     string
	variant  string // the file suffix to load
}

// locate finds model: a directory (any layout the local engine reads), or
// a Hugging Face id ("org/name", optionally "@revision") in the hub cache,
// through the registry for known models.
func (e *Embedder) locate(model string) (location, error) {
	if st, err := os.Stat(model); err == nil && st.IsDir() {
		abs, err := filepath.Abs(model)
		return location{dir: abs, variant: e.cfg.variant}, err
	}
	id, rev, _ := strings.Cut(model, "@")
	if err := models.ValidateID(id); err != nil {
		if strings.ContainsAny(model, `/\.`) && !strings.Contains(model, "@") {
			return location{}, fmt.Errorf("model %s: no such directory, and %w", model, err)
		}
		return location{}, err
	}
	loc, err := e.cache.Locate(id, rev)
	if err != nil {
		return location{}, &NotCachedError{Model: model, Err: err}
	}
	variant, err := fileVariant(loc, e.cfg.variant)
	if err != nil {
		return location{}, err
	}
	return location{dir: loc.Dir, revision: loc.Commit, repo: loc.Repo, variant: variant}, nil
}

// fileVariant turns a variant name into the file suffix to load: known
// models name their files in the registry (all-MiniLM-L6-v2's "quantized"
// is model_quint8_avx2.onnx); elsewhere the name is the suffix.
func fileVariant(loc models.Location, variant string) (string, error) {
	if loc.Entry == nil || loc.Repo != loc.Entry.Repo {
		return variant, nil
	}
	files, err := loc.Entry.Files(variant)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if base, ok := strings.CutSuffix(filepath.Base(f), ".onnx"); ok {
			if _, sfx, found := strings.Cut(base, "model_"); found {
				return sfx, nil
			}
			return "", nil
		}
	}
	return variant, nil
}

// digest hashes the model's family and its graph files' relative paths and
// content hashes. The family is in it because it decides the preprocessing,
// the tokenization and the pooling around the same graphs.
func digest(dir string, graphs []string, family local.Family) (string, error) {
	lines := make([]string, 0, len(graphs)+1)
	lines = append(lines, "family "+string(family)+"\n")
	for _, g := range graphs {
		sum, err := fileSHA256(g)
		if err != nil {
			return "", err
		}
		rel, err := filepath.Rel(dir, g)
		if err != nil {
			return "", err
		}
		lines = append(lines, filepath.ToSlash(rel)+" "+sum+"\n")
	}
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		io.WriteString(h, l)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fileHashes memoises content hashes by path, size and mtime, so a
// directory model's graphs (hundreds of MB) are read once per version.
var fileHashes sync.Map

type fileKey struct {
	path  string
	size  int64
	mtime time.Time
}

// fileSHA256 is the file's sha256: in the HF cache, the blob's name (a
// snapshot entry links to blobs/<sha256>); otherwise its content, hashed.
func fileSHA256(path string) (string, error) {
	if target, err := os.Readlink(path); err == nil {
		if name := filepath.Base(target); models.IsSHA256(name) {
			return name, nil
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	key := fileKey{path, st.Size(), st.ModTime()}
	if v, ok := fileHashes.Load(key); ok {
		return v.(string), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	fileHashes.Store(key, sum)
	return sum, nil
}

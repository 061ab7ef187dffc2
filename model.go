package hybridembed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hybridembed/hybridembed/internal/filehash"
	"github.com/hybridembed/hybridembed/local"
	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/models"
)

// Model is a model resolved once: where its files are (if they are on this
// machine), which revision and variant, and a digest of the files and
// settings that decide its vectors.
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
	// Digest is a sha256 over everything on this machine that decides the
	// model's vectors: the path and content hash of every file in Files,
	// the model's Family, and the JPEG decode mode and decoder of a model
	// that embeds images. So vectors
	// of a directory model before and after an edit of any of those files
	// (a graph, its external weights, preprocessor_config.json, the
	// tokenizer...), or decoded another way, are told apart. "" when the
	// model is not on this machine.
	Digest string `json:"digest,omitempty"`
	// Files are the files the vectors depend on, relative to Dir with
	// forward slashes, and their sha256 (in the HF cache, the blob's
	// name; a directory model's files are hashed once per file version):
	// the ONNX graphs, the external data files they name, and the
	// configuration the engine reads (config.json,
	// preprocessor_config.json, tokenizer.json, tokenizer_config.json,
	// modules.json, sentence_bert_config.json and each module's
	// config.json, such as 1_Pooling/config.json; in immich's layout
	// visual/preprocess_cfg.json and textual/'s tokenizer files).
	Files map[string]string `json:"files,omitempty"`
	// Decode is the JPEG decode mode (DecodeExact or DecodeFast) of a model
	// that embeds images; "" for one that does not.
	Decode string `json:"decode,omitempty"`
	// JPEGDecoder is the decoder JPEGs go to for a model that embeds images:
	// JPEGTurbo (libjpeg-turbo, Pillow's pixels) or JPEGGo (Go's
	// image/jpeg, whose IDCT and upsampling differ by a few levels); "" for
	// one that does not. Go's decoder is part of Digest, so vectors made
	// with one decoder are never taken for the other's; libjpeg-turbo adds
	// nothing to it, so Digests made before this field stay valid for it.
	JPEGDecoder string `json:"jpeg_decoder,omitempty"`
	// Normalized says whether vectors are L2-normalised (see WithNormalize).
	Normalized bool   `json:"normalized"`
	Dir        string `json:"dir,omitempty"`
	// Family is what kind of model it is: clip, siglip, siglip2, mclip
	// (a multilingual text tower beside an OpenCLIP image tower) or
	// sentence. It is part of Digest: the same files read as two families
	// are preprocessed, tokenized and pooled differently, and their
	// vectors are never taken for one another.
	Family string `json:"family,omitempty"`
	// Layout is how the files are laid out: transformers.js, immich or
	// model.onnx; "" when the model is not on this machine.
	Layout     string     `json:"layout,omitempty"`
	Dim        int        `json:"dim,omitempty"`        // from config.json; 0 when unknown
	Modalities []Modality `json:"modalities,omitempty"` // what the local files embed
	Cached     bool       `json:"cached"`               // the files are on this machine
}

// Key is the identity stored vectors are filed under: two models with the
// same Key give the same vector for the same input, so an index, a dataset
// or an import may mix their vectors, and never those of different Keys.
// It covers Repo, Revision, Variant, Digest (the files and the decode mode)
// and Normalized; it is "" when the model is not on this machine. It is
// opaque (a hex sha256): what it covers may grow, which changes every Key,
// so that vectors stored before are computed again rather than mixed.
func (i ModelInfo) Key() string {
	if i.Digest == "" {
		return ""
	}
	h := sha256.New()
	io.WriteString(h, "hybridembed model key 1\n")
	for _, p := range i.identity() {
		fmt.Fprintf(h, "%s=%q\n", p.name, p.value)
	}
	return hex.EncodeToString(h.Sum(nil))
}

type identityPart struct{ name, value string }

// identity is what Key covers, in a fixed order, named as Diff says it: a
// part added here is in both.
func (i ModelInfo) identity() []identityPart {
	return []identityPart{
		{"repo", i.Repo},
		{"revision", i.Revision},
		{"variant", variantName(i.Variant)},
		{"normalisation", onOff(i.Normalized)},
		{"digest", i.Digest}, // the files and the decode mode: Diff names them
	}
}

// Diff says in words what differs between old (for example, the identity
// a dataset was made with) and i, among what Key covers: empty when both
// have the same Key. Changed files are named ("preprocessor_config.json
// changed") when both identities list their Files.
func (i ModelInfo) Diff(old ModelInfo) []string {
	if old.Key() == i.Key() {
		return nil
	}
	var out []string
	say := func(what, was, now string) {
		if was != now {
			out = append(out, fmt.Sprintf("%s %s then, %s now", what, orNone(was), orNone(now)))
		}
	}
	was, now := old.identity(), i.identity()
	for k, p := range now {
		if p.name != "digest" {
			say(p.name, was[k].value, p.value)
		}
	}
	if old.Digest != i.Digest {
		n := len(out)
		say("decode mode", old.Decode, i.Decode)
		say("JPEG decoder", jpegDecoderOf(old), jpegDecoderOf(i))
		say("family", old.Family, i.Family)
		if old.Files != nil && i.Files != nil {
			out = append(out, fileChanges(old.Files, i.Files)...)
		}
		if len(out) == n {
			out = append(out, fmt.Sprintf("digest %.12s then, %.12s now", orNone(old.Digest), orNone(i.Digest)))
		}
	}
	return out
}

// jpegDecoderOf is the JPEG decoder i's Digest was made with: an image
// model's identity from before JPEGDecoder was recorded is libjpeg-turbo's,
// as its Digest says.
func jpegDecoderOf(i ModelInfo) string {
	if i.JPEGDecoder == "" && i.Decode != "" {
		return JPEGTurbo
	}
	return i.JPEGDecoder
}

// fileChanges names the files added, removed or changed from old to now.
func fileChanges(old, now map[string]string) []string {
	names := make([]string, 0, len(now))
	for f := range now {
		names = append(names, f)
	}
	for f := range old {
		if _, ok := now[f]; !ok {
			names = append(names, f)
		}
	}
	sort.Strings(names)
	var out []string
	for _, f := range names {
		was, had := old[f]
		is, has := now[f]
		switch {
		case !had:
			out = append(out, f+" added")
		case !has:
			out = append(out, f+" removed")
		case was != is:
			out = append(out, f+" changed")
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func variantName(v string) string {
	if v == "" {
		return "fp32"
	}
	return v
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
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
	m := &Model{e: e, name: name, info: ModelInfo{Name: name, Variant: e.cfg.variant, Normalized: e.cfg.normalize}}
	loc, err := e.locate(name)
	if err != nil {
		// A model this machine cannot read still gets a handle, as one it
		// does not have: the router may serve its texts.
		var unreadable *unreadableCacheError
		if !isNotCached(err) && !errors.As(err, &unreadable) {
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
	if desc.Image {
		m.info.Decode = DecodeExact
		if e.cfg.fastDecode {
			m.info.Decode = DecodeFast
		}
		m.info.JPEGDecoder, _ = imageprep.JPEGDecoder()
	}
	if m.info.Files, err = fileSums(loc.dir, desc.Files); err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	m.info.Digest = digest(m.info.Files, m.info.Decode, m.info.JPEGDecoder, desc.Family)
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
		return m.loadError(ctx, err)
	}
	return nil
}

// Cached reports whether the model's files are on this machine (a
// directory, or a snapshot in the Hugging Face cache). A model that is not
// cached gives false and no error: calls that need its files return a
// *NotCachedError, which names the command that fetches it. An error says
// the cache could not be read for it.
func (m *Model) Cached() (bool, error) {
	if m.locErr == nil {
		return true, nil
	}
	if isNotCached(m.locErr) {
		return false, nil
	}
	return false, m.locErr
}

// acquire holds the local model loaded for one call. A model that is
// cached but fails to load (a damaged or incomplete file) gives a
// *LoadError.
func (m *Model) acquire(ctx context.Context) (*local.Model, func(), error) {
	if m.locErr != nil {
		return nil, nil, m.locErr
	}
	lm, release, err := m.e.eng.Acquire(ctx, m.loc.dir, m.loc.variant)
	if err != nil {
		return nil, nil, m.loadError(ctx, err)
	}
	return lm, release, nil
}

// loadError names the model in an error from loading its files or
// opening its sessions: a *LoadError when the files themselves failed
// (not a cancelled call, a missing runtime or CUDA).
func (m *Model) loadError(ctx context.Context, err error) error {
	var rt *ort.LoadError
	if ctx.Err() != nil || errors.Is(err, ErrCUDAUnavailable) || errors.As(err, &rt) || errors.Is(err, local.ErrClosed) {
		return fmt.Errorf("model %s: %w", m.name, err)
	}
	return &LoadError{Model: m.name, Dir: m.loc.dir, Cached: m.loc.repo != "", Err: err}
}

// holdLocal begins a call on the Embedder and holds the local model for
// it; done(&err) releases the model and ends the call.
func (m *Model) holdLocal(ctx context.Context) (_ context.Context, _ *local.Model, done func(*error), err error) {
	ctx, end, err := m.e.begin(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	lm, release, err := m.acquire(ctx)
	if err != nil {
		end(&err)
		return nil, nil, nil, err
	}
	return ctx, lm, func(errp *error) { release(); end(errp) }, nil
}

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
	if st, err := os.Stat(model); err == nil {
		if !st.IsDir() {
			return location{}, notADirectory(model)
		}
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
	switch {
	case errors.Is(err, models.ErrNotCached):
		return location{}, e.notCached(model, err)
	case err != nil: // a cache that cannot be read (permissions): not "not cached"
		return location{}, &unreadableCacheError{model: model, err: err}
	}
	variant, err := fileVariant(loc, e.cfg.variant)
	if err != nil {
		return location{}, err
	}
	return location{dir: loc.Dir, revision: loc.Commit, repo: loc.Repo, variant: variant}, nil
}

// notADirectory is the error for a model given as a file: the model is
// the folder that holds it (a graph's folder, for an .onnx file).
func notADirectory(model string) error {
	hint := "give the folder that holds its config.json and .onnx files"
	if strings.EqualFold(filepath.Ext(model), ".onnx") {
		dir := filepath.Dir(model)
		if filepath.Base(dir) == "onnx" {
			dir = filepath.Dir(dir)
		}
		hint = "give the model's folder (" + dir + "), which holds its config.json and tokenizer"
	}
	return fmt.Errorf("model %s is a file, not a model folder: %s", model, hint)
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

// fileSums hashes each file, by its path relative to dir.
func fileSums(dir string, files []string) (map[string]string, error) {
	sums := make(map[string]string, len(files))
	for _, f := range files {
		sum, err := fileSHA256(f)
		if err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(dir, f)
		if err != nil {
			return nil, err
		}
		sums[filepath.ToSlash(rel)] = sum
	}
	return sums, nil
}

// digest hashes the files' relative paths and content hashes, in order,
// the decode mode when there is one, and the family: it decides the
// preprocessing, the tokenization and the pooling around the same files.
func digest(sums map[string]string, decode, jpegDecoder string, family local.Family) string {
	lines := make([]string, 0, len(sums)+2)
	for rel, sum := range sums {
		lines = append(lines, fmt.Sprintf("%q %s\n", rel, sum))
	}
	sort.Strings(lines)
	if decode != "" {
		lines = append(lines, "decode "+decode+"\n")
	}
	if jpegDecoder != "" && jpegDecoder != imageprep.JPEGTurbo {
		// libjpeg-turbo, the decoder Digests before this line were made
		// with where it loaded, adds nothing: those stay valid.
		lines = append(lines, "jpeg-decoder "+jpegDecoder+"\n")
	}
	if family != "" {
		lines = append(lines, "family "+string(family)+"\n")
	}
	h := sha256.New()
	for _, l := range lines {
		io.WriteString(h, l)
	}
	return hex.EncodeToString(h.Sum(nil))
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
	sum, _, err := filehash.Hex(context.Background(), path)
	if err != nil {
		return "", err
	}
	fileHashes.Store(key, sum)
	return sum, nil
}

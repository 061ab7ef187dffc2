package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/hybridembed/hybridembed/local/imageprep"
	"github.com/hybridembed/hybridembed/local/ort"
	"github.com/hybridembed/hybridembed/local/tokenize"
	"github.com/hybridembed/hybridembed/models/layout"
)

// ErrNoTextTower and ErrNoVisionTower say a model cannot embed that modality.
var (
	ErrNoTextTower   = errors.New("model has no text tower")
	ErrNoVisionTower = errors.New("model has no vision tower")
)

// Model is one model directory, loaded. Its towers' sessions open on first
// use, so a model used only for images never loads its text tower. Safe for
// concurrent use.
type Model struct {
	dir     string
	variant string
	cfg     *hfConfig
	st      *stConfig // sentence-transformers modules, when the repo has them
	eng     *Engine
	family  Family
	// openclip is immich's open_clip config.json, in immich's layout.
	openclip *openCLIPConfig

	textSig, visionSig *signature
	proc               imageprep.Processor // the vision tower's preprocessing

	// Towers open on first use; a tower that fails to open is tried again
	// on the next call (a file may have appeared), never cached as failed.
	textMu   sync.Mutex
	text     *textTower
	visionMu sync.Mutex
	vision   *visionTower

	closeOnce sync.Once
	closeErr  error
}

// close stops the towers' batchers and releases their sessions.
func (m *Model) close() error {
	m.closeOnce.Do(func() {
		var errs []error
		m.textMu.Lock()
		if t := m.text; t != nil {
			t.batch.close()
			errs = append(errs, t.sess.Close())
		}
		m.textMu.Unlock()
		m.visionMu.Lock()
		if v := m.vision; v != nil {
			v.batch.close()
			errs = append(errs, v.sess.Close())
		}
		m.visionMu.Unlock()
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// Variant is the file variant the model was opened with ("" for fp32).
func (m *Model) Variant() string { return m.variant }

// Stats reports each opened tower's batching.
func (m *Model) Stats() []TowerStats {
	var out []TowerStats
	m.textMu.Lock()
	if m.text != nil {
		out = append(out, m.text.batch.stats())
	}
	m.textMu.Unlock()
	m.visionMu.Lock()
	if m.vision != nil {
		out = append(out, m.vision.batch.stats())
	}
	m.visionMu.Unlock()
	return out
}

// Family is the kind of model a directory holds: the registry's notion
// (layout.Family), so that routing compares one type wherever the facts
// come from.
type Family = layout.Family

// The families, as the registry names them.
const (
	FamilyCLIP     = layout.FamilyCLIP     // CLIP and OpenCLIP image-text encoders
	FamilySigLIP   = layout.FamilySigLIP   // SigLIP
	FamilySigLIP2  = layout.FamilySigLIP2  // SigLIP 2 FixRes (SigLIP with a Gemma tokenizer)
	FamilyMCLIP    = layout.FamilyMCLIP    // a multilingual text tower beside an OpenCLIP image tower
	FamilySentence = layout.FamilySentence // a sentence-transformers text encoder
)

// Dir is the model directory.
func (m *Model) Dir() string { return m.dir }

// Family reports what kind of model this is.
func (m *Model) Family() Family { return m.family }

// HasText reports whether the model can embed text.
func (m *Model) HasText() bool { return m.textSig != nil }

// HasImages reports whether the model can embed images.
func (m *Model) HasImages() bool { return m.visionSig != nil }

func loadModel(e *Engine, dir, variant string) (*Model, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	f, err := findFiles(dir, variant)
	if err != nil {
		return nil, err
	}
	cfg, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	stc, err := readSTConfig(dir)
	if err != nil {
		return nil, err
	}
	fam, err := detectFamily(dir, cfg, f)
	if err != nil {
		return nil, err
	}
	m := &Model{dir: dir, variant: variant, cfg: cfg, st: stc, eng: e}
	if f.Kind == layout.KindImmich {
		if m.openclip, err = readOpenCLIPConfig(dir); err != nil {
			return nil, err
		}
	}
	for _, p := range []struct {
		path string
		dst  **signature
	}{{f.Text, &m.textSig}, {f.Vision, &m.visionSig}, {f.Single, nil}} {
		if p.path == "" {
			continue
		}
		sig, err := readSignature(p.path)
		if err != nil {
			return nil, err
		}
		if p.dst != nil {
			*p.dst = &sig
			continue
		}
		// One model.onnx: its inputs say which towers it holds.
		if sig.has("input_ids") {
			m.textSig = &sig
		}
		if sig.has("pixel_values") {
			m.visionSig = &sig
		}
		if m.textSig == nil && m.visionSig == nil {
			return nil, &LayoutError{Dir: dir, Variant: variant, Reason: fmt.Sprintf("%s takes neither input_ids nor pixel_values (%s)", p.path, sig.describe())}
		}
	}
	m.family = defaultFamily(fam, m.visionSig != nil)
	for _, s := range []*signature{m.textSig, m.visionSig} {
		if s == nil {
			continue
		}
		if s.has("pixel_attention_mask") || s.has("spatial_shapes") {
			return nil, fmt.Errorf("%s: %w (the graph takes %s)", dir, ErrNaFlex, s.describe())
		}
		if err := s.checkInputs(textInputs, visionInputs); err != nil {
			return nil, &LayoutError{Dir: dir, Variant: variant, Reason: err.Error()}
		}
		if b := s.batch(); b > 1 {
			return nil, &LayoutError{Dir: dir, Variant: variant, Reason: fmt.Sprintf("%s has a fixed batch of %d; hybridembed runs graphs with a dynamic batch or a batch of 1", s.path, b)}
		}
	}
	if m.visionSig != nil {
		// Fail at load, not at the first image, on a preprocessor that
		// does not fit the graph.
		if m.proc, err = m.readProcessor(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Model) joint() bool {
	return m.textSig != nil && m.visionSig != nil && m.textSig.path == m.visionSig.path
}

// readProcessor reads the model's image preprocessing: immich's
// visual/preprocess_cfg.json, else preprocessor_config.json, else the
// family's defaults at the vision config's image_size (CLIP's, or
// SiglipImageProcessor's); and checks it against the graph's image input.
func (m *Model) readProcessor() (imageprep.Processor, error) {
	var p imageprep.Processor
	if m.openclip != nil {
		path := filepath.Join(m.dir, "visual", "preprocess_cfg.json")
		data, err := os.ReadFile(path)
		if err != nil {
			return p, fmt.Errorf("%s: immich's layout needs visual/preprocess_cfg.json: %w", m.dir, err)
		}
		if p, err = imageprep.ParseOpenCLIP(data); err != nil {
			return p, fmt.Errorf("%s: %w", path, err)
		}
	} else if path := filepath.Join(m.dir, "preprocessor_config.json"); fileExists(path) {
		var err error
		if p, err = imageprep.LoadProcessor(path); err != nil {
			return p, err
		}
	} else {
		size := m.cfg.vision().ImageSize
		if size == 0 {
			size = 224
		}
		p = imageprep.CLIPProcessor(size)
		if m.family == FamilySigLIP || m.family == FamilySigLIP2 {
			p = imageprep.SiglipProcessor(size)
		}
	}
	in, nhwc := m.visionSig.imageInput()
	if len(in.Shape) != 4 {
		return p, fmt.Errorf("%s: %s has shape %v, want [batch, 3, height, width]", m.visionSig.path, in.Name, in.Shape)
	}
	gh, gw := in.Shape[2], in.Shape[3]
	if nhwc {
		gh, gw = in.Shape[1], in.Shape[2]
	}
	h, w, fixed := p.OutputSize()
	if !fixed && (gh > 0 || gw > 0) {
		return p, fmt.Errorf("%s: the graph takes %dx%d images but the preprocessing config does not produce a fixed size", m.dir, gw, gh)
	}
	if fixed && (gh > 0 && gh != int64(h) || gw > 0 && gw != int64(w)) {
		return p, fmt.Errorf("%s: the preprocessing config produces %dx%d images but %s takes %dx%d", m.dir, w, h, filepath.Base(m.visionSig.path), gw, gh)
	}
	return p, nil
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

func (m *Model) feeds(s *signature) []string {
	names := make([]string, len(s.inputs))
	for i, in := range s.inputs {
		names[i] = in.Name
	}
	return names
}

func (m *Model) textTower() (*textTower, error) {
	m.textMu.Lock()
	defer m.textMu.Unlock()
	if m.text != nil {
		return m.text, nil
	}
	if m.textSig == nil {
		return nil, fmt.Errorf("%s: %w", m.dir, ErrNoTextTower)
	}
	tokDir, opts, clean := m.tokenizerRules()
	tok, err := tokenize.Load(tokDir, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: tokenizer: %w", m.dir, err)
	}
	t, err := m.newTextTower(tok)
	if err != nil {
		return nil, err
	}
	t.clean = clean
	if m.joint() {
		px := m.visionSig.input("pixel_values").Shape
		h, w, _ := m.proc.OutputSize()
		t.pixels = []int64{1, nonNeg(px[1], 3), nonNeg(px[2], int64(h)), nonNeg(px[3], int64(w))}
	}
	if t.sess, err = m.eng.session(m.textSig.path, t.feeds, t.output, 1, false); err != nil {
		return nil, err
	}
	t.exec, t.oom.logf = t.sess, m.eng.logf
	t.batch = newBatcher(m.eng.ctx, m.textSig.path, m.towerBatch(m.textSig, m.eng.textBatch()), 1, m.eng.maxWait(), t.runItems)
	m.text = t
	return t, nil
}

// tokenizerRules is how the model's texts are tokenized: where the
// tokenizer files are, the options they are loaded with and a cleaning
// step before them.
//
//   - immich's layout: textual/'s tokenizer, padded on the right and
//     truncated to the open_clip config's context_length, after immich's
//     clean_text, as its textual encoders feed the graphs.
//   - SigLIP and SigLIP 2: padded to the maximum length (64) on the right
//     with the tokenizer's pad token, since the tower pools the last
//     position; SigLIP 2's Gemma tokenizer lowercased first.
//   - otherwise padded to the longest text of a batch, truncated to
//     sentence-transformers' max_seq_length or the tokenizer's limit.
//
// A graph whose text input has a fixed length gets exactly that many tokens.
func (m *Model) tokenizerRules() (string, tokenize.Options, func(string) string) {
	dir := m.dir
	opts := tokenize.Options{Cap: m.cfg.text().MaxPositionEmbeddings}
	var clean func(string) string
	switch {
	case m.openclip != nil:
		dir = filepath.Join(m.dir, "textual")
		opts = tokenize.Options{MaxLength: m.openclip.contextLength(), Fixed: true, PadRight: true}
		canon := m.openclip.canonicalize()
		clean = func(s string) string { return immichClean(s, canon) }
	case m.family == FamilySigLIP || m.family == FamilySigLIP2:
		opts.Fixed, opts.PadRight, opts.Lowercase = true, true, m.family == FamilySigLIP2
	case m.st != nil:
		opts.MaxLength = m.st.maxSeq // sentence-transformers' max_seq_length wins
	}
	if in := m.textSig.idsInput(); len(in.Shape) == 2 && in.Shape[1] > 0 {
		opts.Fixed, opts.MaxLength = true, int(in.Shape[1])
	}
	return dir, opts, clean
}

// towerBatch is the batch size of a tower: the engine's, or 1 for a graph
// exported with a fixed batch of 1 (immich's), whose inputs then run one at
// a time through the same batcher.
func (m *Model) towerBatch(s *signature, size int) int {
	if s.batch() == 1 {
		return 1
	}
	return size
}

// configDim is the vector width the config files declare: CLIP's
// projection_dim, SigLIP's text projection (its hidden size), open_clip's
// embed_dim.
func (m *Model) configDim() int64 {
	switch {
	case m.openclip != nil:
		return int64(m.openclip.EmbedDim)
	case m.cfg.ProjectionDim > 0:
		return int64(m.cfg.ProjectionDim)
	case m.family == FamilySigLIP || m.family == FamilySigLIP2:
		tc := m.cfg.text()
		if tc.ProjectionSize > 0 {
			return int64(tc.ProjectionSize)
		}
		return int64(tc.HiddenSize)
	}
	return 0
}

// newTextTower picks the graph output and, for token states, the pooling.
func (m *Model) newTextTower(tok *tokenize.Tokenizer) (*textTower, error) {
	t := &textTower{feeds: m.feeds(m.textSig), tok: tok}
	if m.family.ImageText() {
		// CLIP's projected text_embeds; SigLIP's pooler_output (the head on
		// the last position; the towers have no other projection); the
		// normalised embedding of immich's exports.
		out, dim, err := m.textSig.pickOutput("text_embeds", "pooler_output", "sentence_embedding", "embeddings", "embedding", "text_embedding")
		if err != nil {
			return nil, err
		}
		if dim == 0 {
			dim = m.configDim()
		}
		t.output, t.dim = out, dim
		return t, nil
	}
	// A sentence encoder: a pooled output if the graph has one, else token
	// states pooled as the repo's Pooling module says.
	for _, name := range []string{"sentence_embedding", "sentence_embeddings"} {
		for _, o := range m.textSig.outputs {
			if o.Name == name && len(o.Shape) == 2 {
				t.output, t.dim = name, lastDim(o)
				return t, nil
			}
		}
	}
	for _, name := range []string{"last_hidden_state", "token_embeddings"} {
		for _, o := range m.textSig.outputs {
			if o.Name != name || len(o.Shape) != 3 {
				continue
			}
			switch {
			case m.st == nil || m.st.pooling == nil:
				return nil, fmt.Errorf("%s: the graph returns token states (%s) and there is no sentence-transformers Pooling config (modules.json, 1_Pooling/config.json) saying how to pool them", m.dir, name)
			case m.st.dense != "":
				return nil, fmt.Errorf("%s: modules.json has a Dense module (%s) that %s does not include; its weights are not in the ONNX graph", m.dir, m.st.dense, filepath.Base(m.textSig.path))
			}
			t.output, t.dim, t.pooling = name, lastDim(o), m.st.pooling
			if t.dim == 0 {
				t.dim = int64(m.cfg.HiddenSize)
			}
			return t, nil
		}
	}
	return nil, fmt.Errorf("%s: no embedding output: want sentence_embedding, or last_hidden_state with a pooling config; the graph has %s", m.dir, m.textSig.describe())
}

// Normalizes reports whether the model's own pipeline L2-normalises (a
// sentence-transformers Normalize module), which a remote server applies too.
func (m *Model) Normalizes() bool { return m.st != nil && m.st.normalize }

func nonNeg(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}

func (m *Model) visionTower() (*visionTower, error) {
	m.visionMu.Lock()
	defer m.visionMu.Unlock()
	if m.vision != nil {
		return m.vision, nil
	}
	if m.visionSig == nil {
		return nil, fmt.Errorf("%s: %w", m.dir, ErrNoVisionTower)
	}
	out, dim, err := m.visionSig.pickOutput("image_embeds", "pooler_output", "embeddings", "embedding", "image_embedding")
	if err != nil {
		return nil, err
	}
	if dim == 0 {
		dim = m.configDim()
	}
	v := &visionTower{feeds: m.feeds(m.visionSig), dim: dim, proc: m.proc}
	_, v.nhwc = m.visionSig.imageInput()
	if m.joint() {
		if v.ids, err = m.blankText(); err != nil {
			return nil, err
		}
	}
	// "auto" is the CPU until CUDA proves to work, so the runs are decided
	// again for the device the session opened on: a GPU session that was
	// given half the threads only uses them for the few operators it
	// leaves to the CPU, and runs one batch at a time.
	runs := imageRuns(m.eng.opts.Runs, m.eng.opts.Device, m.eng.threads())
	if v.sess, err = m.eng.session(m.visionSig.path, v.feeds, out, runs, true); err != nil {
		return nil, err
	}
	v.exec, v.oom.logf = v.sess, m.eng.logf
	runs = imageRuns(m.eng.opts.Runs, v.sess.Provider(), m.eng.threads())
	// The batch size is shared between the runs: a batch of 16 on one of
	// two single-threaded runs, with nothing else to run, would leave the
	// other's core idle (16 camera photos ran at 0.32 of raw ONNX Runtime
	// that way, against 0.42-0.43 in two batches of 8).
	v.batch = newBatcher(m.eng.ctx, m.visionSig.path, m.towerBatch(m.visionSig, max(1, m.eng.imageBatch()/runs)), runs, m.eng.maxWait(), v.runItems)
	m.vision = v
	return v, nil
}

// blankText is the shortest text a joint model accepts: the tokenizer's
// encoding of "" ([BOS, EOS] for CLIP), or the config's special ids.
func (m *Model) blankText() ([]int64, error) {
	if tok, err := tokenize.Load(m.dir, tokenize.Options{}); err == nil {
		if enc, err := tok.Encode(""); err == nil && len(enc.IDs) > 0 {
			ids := make([]int64, len(enc.IDs))
			for i, id := range enc.IDs {
				ids[i] = int64(id)
			}
			return ids, nil
		}
	}
	tc := m.cfg.text()
	if tc.BOSTokenID != nil && tc.EOSTokenID != nil {
		return []int64{int64(*tc.BOSTokenID), int64(*tc.EOSTokenID)}, nil
	}
	return nil, fmt.Errorf("%s: a joint model needs a tokenizer.json or bos/eos ids in config.json to embed images", m.dir)
}

// Provider reports where a tower runs ("cpu" or "cuda"), opening it if need be.
func (m *Model) Provider(images bool) (ort.Device, error) {
	if images {
		v, err := m.visionTower()
		if err != nil {
			return "", err
		}
		return v.sess.Provider(), nil
	}
	t, err := m.textTower()
	if err != nil {
		return "", err
	}
	return t.sess.Provider(), nil
}

// TextResult is one text's embedding, or why it has none.
type TextResult struct {
	Vector []float32
	// Tokens is how many tokens the text made (special tokens included,
	// after truncation): what [Model.CountTokens] says, without tokenizing
	// again.
	Tokens int
	Err    error
}

// EmbedTexts embeds texts through the text tower's batcher, which it
// shares with every other caller of the model. A text that cannot be
// tokenized fails alone; an error from the runtime fails the texts of the
// batch it hit; a cancelled ctx ends the call with ctx's error.
func (m *Model) EmbedTexts(ctx context.Context, texts []string) ([]TextResult, error) {
	t, err := m.textTower()
	if err != nil {
		return nil, err
	}
	res := make([]TextResult, len(texts))
	encs := make([]tokenize.Encoding, len(texts))
	var order []int
	for i, s := range texts {
		if encs[i], err = t.encode(s); err != nil {
			res[i].Err = err
			continue
		}
		res[i].Tokens = len(encs[i].IDs)
		order = append(order, i)
	}
	// Similar lengths side by side waste less on padding; results do not
	// depend on batch-mates (attention masks), only speed does.
	sort.SliceStable(order, func(a, b int) bool { return len(encs[order[a]].IDs) < len(encs[order[b]].IDs) })
	var runErr error
	err = m.stream(ctx, t.batch, len(order), func(_ context.Context, k int) (*item, error) {
		return &item{data: encs[order[k]]}, nil
	}, func(k int, vec []float32, err error) {
		if err != nil && runErr == nil {
			runErr = err // the runtime failed: the call fails
		}
		res[order[k]].Vector = vec
	}, "") // tokenized already: no pool
	if err == nil {
		err = runErr
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// CountTokens is how many tokens each text becomes with the model's
// tokenizer: special tokens included, after truncation to the model's
// maximum, as the text tower sees it.
func (m *Model) CountTokens(texts []string) ([]int, error) {
	t, err := m.textTower()
	if err != nil {
		return nil, err
	}
	out := make([]int, len(texts))
	for i, s := range texts {
		enc, err := t.encode(s)
		if err != nil {
			return nil, fmt.Errorf("text %d: %w", i, err)
		}
		out[i] = len(enc.IDs)
	}
	return out, nil
}

// TokenIDs is what the text tower is fed for each text: its token ids,
// padded as the tower pads them (to the batch's longest text, or for
// towers that read a fixed length, such as SigLIP's, to that length).
// Each text is laid out as if alone in its batch.
func (m *Model) TokenIDs(texts []string) ([][]int, error) {
	t, err := m.textTower()
	if err != nil {
		return nil, err
	}
	out := make([][]int, len(texts))
	for i, s := range texts {
		enc, err := t.encode(s)
		if err != nil {
			return nil, fmt.Errorf("text %d: %w", i, err)
		}
		b := t.tok.Pad([]tokenize.Encoding{enc})
		out[i] = make([]int, len(b.IDs))
		for k, id := range b.IDs {
			out[i][k] = int(id)
		}
	}
	return out, nil
}

// Open opens the model's towers now rather than on first use.
func (m *Model) Open() error {
	if m.HasText() {
		if _, err := m.textTower(); err != nil {
			return err
		}
	}
	if m.HasImages() {
		if _, err := m.visionTower(); err != nil {
			return err
		}
	}
	return nil
}

// Tokenizer is the text tower's tokenizer, as it encodes texts (opening
// the tower on first use).
func (m *Model) Tokenizer() (*tokenize.Tokenizer, error) {
	t, err := m.textTower()
	if err != nil {
		return nil, err
	}
	return t.tok, nil
}

// TextPooling says how the text tower makes one vector of a text's token
// states, in TEI's words: the sentence-transformers Pooling mode ("mean",
// "cls", ...); "last_token" for CLIP and SigLIP, whose graphs pool at the
// final token (CLIP's <|endoftext|>); "mean" for M-CLIP's text tower; ""
// when nothing says.
func (m *Model) TextPooling() string {
	switch {
	case m.st != nil && len(m.st.pooling) > 0:
		return strings.Join(m.st.pooling, "+")
	case m.family == FamilyCLIP, m.family == FamilySigLIP, m.family == FamilySigLIP2:
		return "last_token"
	case m.family == FamilyMCLIP:
		return "mean"
	}
	return ""
}

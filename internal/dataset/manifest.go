package dataset

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hybridembed/hybridembed"
	"github.com/hybridembed/hybridembed/internal/atomicfile"
)

// Model is the identity of the model that made a dataset's vectors: Key
// ([hybridembed.ModelInfo.Key]) decides whether two runs made the same
// vectors; the rest says, to people and to error messages, what it covers.
type Model struct {
	Name        string            `json:"name"`
	Key         string            `json:"key"`
	Repo        string            `json:"repo,omitempty"`
	Revision    string            `json:"revision,omitempty"`
	Variant     string            `json:"variant,omitempty"`
	Digest      string            `json:"digest"`
	Decode      string            `json:"decode,omitempty"`
	JPEGDecoder string            `json:"jpeg_decoder,omitempty"`
	Normalized  bool              `json:"normalized"`
	Files       map[string]string `json:"files,omitempty"`
	Dim         int               `json:"dim"`
}

// ModelOf is the dataset's identity for the model info describes.
func ModelOf(info hybridembed.ModelInfo) Model {
	return Model{Name: info.Name, Key: info.Key(), Repo: info.Repo, Revision: info.Revision, Variant: info.Variant,
		Digest: info.Digest, Decode: info.Decode, JPEGDecoder: info.JPEGDecoder, Normalized: info.Normalized, Files: info.Files, Dim: info.Dim}
}

// Info is the part of the model's info the identity records.
func (m Model) Info() hybridembed.ModelInfo {
	return hybridembed.ModelInfo{Name: m.Name, Repo: m.Repo, Revision: m.Revision, Variant: m.Variant,
		Digest: m.Digest, Decode: m.Decode, JPEGDecoder: m.JPEGDecoder, Normalized: m.Normalized, Files: m.Files, Dim: m.Dim}
}

// Differences says what differs from old to m, for messages: "" when both
// have the same Key (or, both written before Keys, the same fields).
func (m Model) Differences(old Model) string {
	if m.Key != "" && m.Key == old.Key {
		return ""
	}
	d := m.Info().Diff(old.Info())
	switch {
	case len(d) > 0:
		return strings.Join(d, "; ")
	case m.Key == old.Key:
		return ""
	default: // the fields agree, the keys do not: another scheme made one
		return "its identity (another hybridembed version made it)"
	}
}

// manifestVersion 2 has input keys (rows with a key column, and the inputs
// file) and model Keys; version 1 had neither.
const manifestVersion = 2

// Manifest records one shard's run: what it was given, what it committed,
// and whether it finished. It is rewritten atomically after every chunk.
type Manifest struct {
	Version int   `json:"version"`
	Shard   int   `json:"shard"`
	Shards  int   `json:"shards"`
	Model   Model `json:"model"`
	Inputs  int   `json:"inputs"` // assigned to this shard in its last run
	// InputsFile lists the keys of those inputs, one JSON string a line
	// (_inputs-K-of-N.jsonl), and InputsSHA256 is its hash: verify
	// names the inputs that are in no chunk.
	InputsFile   string    `json:"inputs_file,omitempty"`
	InputsSHA256 string    `json:"inputs_sha256,omitempty"`
	Chunks       []Chunk   `json:"chunks"`
	Rows         int       `json:"rows"`   // committed, failed ones included
	Failed       int       `json:"failed"` // rows with an error
	Complete     bool      `json:"complete"`
	Updated      time.Time `json:"updated"`
	Tool         string    `json:"tool"`
}

// Chunk is one committed file.
type Chunk struct {
	File   string `json:"file"`
	Rows   int    `json:"rows"`
	Failed int    `json:"failed"`
}

func manifestName(s Shard) string {
	return fmt.Sprintf("_manifest-%05d-of-%05d.json", s.K, s.N)
}

func inputsName(s Shard) string {
	return fmt.Sprintf("_inputs-%05d-of-%05d.jsonl", s.K, s.N)
}

func readManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &m, nil
}

// writeManifest replaces the manifest atomically.
func writeManifest(dir string, m *Manifest) error {
	m.Updated = time.Now().UTC()
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, manifestName(Shard{m.Shard, m.Shards})), append(data, '\n'))
}

// writeInputs replaces the shard's inputs file with keys and returns its
// sha256.
func writeInputs(dir string, s Shard, keys []string) (string, error) {
	h := sha256.New()
	err := atomicfile.Write(filepath.Join(dir, inputsName(s)), func(w *bufio.Writer) error {
		out := io.MultiWriter(w, h)
		for _, k := range keys {
			b, err := json.Marshal(k)
			if err != nil {
				return err
			}
			out.Write(append(b, '\n'))
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// readInputs reads an inputs file, checking it against the sha256 its
// manifest recorded.
func readInputs(path, sum string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("%s: not the inputs its manifest records (sha256 %.12s, want %.12s)", filepath.Base(path), hex.EncodeToString(got[:]), sum)
	}
	var keys []string
	for line := range strings.Lines(string(data)) {
		var k string
		if err := json.Unmarshal([]byte(line), &k); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// ErrOtherRun means the output folder holds a run that this one cannot
// continue (another model or settings, or another number of shards).
var ErrOtherRun = errors.New("the folder holds another run")

// ErrOldDataset means the folder holds a shard written before rows had
// keys: it can be read (by DuckDB, pyarrow, verify), not resumed, because
// which inputs it holds cannot be told exactly across mounts.
var ErrOldDataset = errors.New("written by an older hybridembed (rows without a key column)")

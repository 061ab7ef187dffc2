package dataset

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hybridembed/hybridembed/internal/atomicfile"
)

// Model is the identity of the model that made a dataset's vectors.
type Model struct {
	Name     string `json:"name"`
	Repo     string `json:"repo,omitempty"`
	Revision string `json:"revision,omitempty"`
	Variant  string `json:"variant,omitempty"`
	Digest   string `json:"digest"`
	Dim      int    `json:"dim"`
}

func (m Model) same(o Model) bool {
	return m.Repo == o.Repo && m.Revision == o.Revision && m.Variant == o.Variant && m.Digest == o.Digest
}

// Manifest records one shard's run: what it was given, what it committed,
// and whether it finished. It is rewritten atomically after every chunk.
type Manifest struct {
	Version  int       `json:"version"`
	Shard    int       `json:"shard"`
	Shards   int       `json:"shards"`
	Model    Model     `json:"model"`
	Inputs   int       `json:"inputs"` // assigned to this shard in its last run
	Chunks   []Chunk   `json:"chunks"`
	Rows     int       `json:"rows"`   // committed, failed ones included
	Failed   int       `json:"failed"` // rows with an error
	Complete bool      `json:"complete"`
	Updated  time.Time `json:"updated"`
	Tool     string    `json:"tool"`
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
	return atomicfile.Write(filepath.Join(dir, manifestName(Shard{m.Shard, m.Shards})), func(w *bufio.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	})
}

// ErrOtherRun means the output folder holds a run that this one cannot
// continue (another model, or another number of shards).
var ErrOtherRun = errors.New("the folder holds another run")

package dataset

import (
	"errors"
	"os"
	"path/filepath"
)

// ErrNothingEmbedded means every input of a run failed and the shard had
// nothing committed before: nothing was written.
var ErrNothingEmbedded = errors.New("nothing was embedded")

// made is what a run created in an output folder, so that a run that
// commits nothing can take it back and leave the folder as it found it.
type made struct {
	dirs  []string // folders created, deepest first
	files []string // files that did not exist before the run
}

// mkdirAll is os.MkdirAll, remembering which folders it created.
func mkdirAll(dir string) (made, error) {
	var m made
	for d := filepath.Clean(dir); ; {
		if _, err := os.Lstat(d); err == nil || !errors.Is(err, os.ErrNotExist) {
			break
		}
		m.dirs = append(m.dirs, d)
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	return m, os.MkdirAll(dir, 0o777)
}

// file records path as created by the run when it does not exist yet.
func (m *made) file(path string) {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		m.files = append(m.files, path)
	}
}

// undo removes what the run created. Folders go only when empty, so
// nothing another process put there is lost.
func (m made) undo() {
	for _, f := range m.files {
		os.Remove(f)
	}
	for _, d := range m.dirs {
		os.Remove(d)
	}
}

package dataset

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/hybridembed/hybridembed/internal/atomicfile"
)

// WriteNPY writes vectors as DIR/embeddings.npy (float32, C order, shape
// (n, dim), NumPy format 1.0) and their paths as DIR/paths.txt, one per
// line in the same order. Each file is written under a temporary name and
// renamed, so a reader never sees a torn one.
func WriteNPY(dir string, paths []string, vectors [][]float32, dim int) error {
	if len(paths) != len(vectors) {
		return fmt.Errorf("npy: %d paths for %d vectors", len(paths), len(vectors))
	}
	for _, p := range paths {
		if strings.ContainsAny(p, "\n\r") {
			return fmt.Errorf("npy: path %q has a line break; paths.txt cannot hold it", p)
		}
	}
	return writeNPY(dir, "paths.txt", paths, vectors, dim, func(w *bufio.Writer, p string) error {
		w.WriteString(p)
		return w.WriteByte('\n')
	})
}

// WriteNPYTexts writes vectors as DIR/embeddings.npy, as [WriteNPY] does,
// and their texts as DIR/texts.jsonl, one JSON string per line in the same
// order (a text may hold line breaks).
func WriteNPYTexts(dir string, texts []string, vectors [][]float32, dim int) error {
	if len(texts) != len(vectors) {
		return fmt.Errorf("npy: %d texts for %d vectors", len(texts), len(vectors))
	}
	return writeNPY(dir, "texts.jsonl", texts, vectors, dim, func(w *bufio.Writer, t string) error {
		b, err := json.Marshal(t)
		if err != nil {
			return err
		}
		w.Write(b)
		return w.WriteByte('\n')
	})
}

// writeNPY writes DIR/embeddings.npy, then the labels file (one line per
// vector, written by line).
func writeNPY(dir, labelsFile string, labels []string, vectors [][]float32, dim int, line func(*bufio.Writer, string) error) error {
	for i, v := range vectors {
		if len(v) != dim {
			return fmt.Errorf("npy: %s has %d numbers, not %d", labels[i], len(v), dim)
		}
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	err := atomicfile.Write(filepath.Join(dir, "embeddings.npy"), func(w *bufio.Writer) error {
		header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", len(vectors), dim)
		// Magic (6) + version (2) + length (2) + header + '\n', padded
		// with spaces to a multiple of 64 bytes.
		pad := 64 - (10+len(header)+1)%64
		if pad == 64 {
			pad = 0
		}
		header += strings.Repeat(" ", pad) + "\n"
		w.WriteString("\x93NUMPY\x01\x00")
		binary.Write(w, binary.LittleEndian, uint16(len(header)))
		w.WriteString(header)
		var b [4]byte
		for _, v := range vectors {
			for _, x := range v {
				binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
				w.Write(b[:])
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, labelsFile), func(w *bufio.Writer) error {
		for _, l := range labels {
			if err := line(w, l); err != nil {
				return err
			}
		}
		return nil
	})
}

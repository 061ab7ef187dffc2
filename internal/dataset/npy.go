package dataset

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hybridembed/hybridembed/internal/atomicfile"
	"github.com/hybridembed/hybridembed/internal/filehash"
)

// An NPY output is a folder of three files: embeddings.npy (float32, C
// order, shape (n, dim), NumPy format 1.0, as np.load reads it), a labels
// file in the same order (paths.txt, a path a line, or texts.jsonl, a JSON
// string a line) and _npy.json, which links the two: it records the row
// count and both files' sha256. The files cannot be replaced in one step,
// so a write that is killed (or whose disk fills) part-way could leave new
// vectors beside old labels; _npy.json is what tells. A write fills and
// syncs all three temporary files before it renames any (a full disk fails
// it with the folder as it was), then commits _npy.json, the labels and
// the vectors, in that order. Each state a kill can leave is then either
// the new pair, the previous pair (which _npy.json still lists, under
// "earlier"), or a pair that matches no record of it: [ReadNPY] and
// [Verify] report that one as [ErrNPYMismatch], never as data.
const (
	npyVectors  = "embeddings.npy"
	npyManifest = "_npy.json"
	npyFormat   = "hybridembed-npy"
	// npyEarlier is how many earlier pairs _npy.json keeps: two, so that
	// a folder whose last two writes were both killed still reads as the
	// pair before them.
	npyEarlier = 2
)

// ErrNPYMismatch means an NPY output's embeddings.npy and labels file are
// not the pair one write made (a write was cut short between the two), or
// do not agree with each other: their rows cannot be matched up.
var ErrNPYMismatch = errors.New("embeddings.npy and its labels file are not one write's pair")

// npyPair is one write's pair of files, as _npy.json records it.
type npyPair struct {
	Rows             int    `json:"rows"`
	Dim              int    `json:"dim"`
	Labels           string `json:"labels"` // paths.txt or texts.jsonl
	EmbeddingsSHA256 string `json:"embeddings_sha256"`
	LabelsSHA256     string `json:"labels_sha256"`
}

// npyRecord is _npy.json: the pair the last write committed, and those
// the writes before it did (newest first).
type npyRecord struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	npyPair
	Earlier []npyPair `json:"earlier,omitempty"`
	Updated time.Time `json:"updated"`
}

// WriteNPY writes vectors as DIR/embeddings.npy and their paths as
// DIR/paths.txt, one a line in the same order, linked by DIR/_npy.json (see
// the package's NPY notes): a reader that checks the link never takes one
// write's vectors for another's paths.
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

// writeNPY writes the three files of an NPY output: all of them under
// temporary names and synced, then _npy.json, the labels file and
// embeddings.npy committed in that order.
func writeNPY(dir, labelsFile string, labels []string, vectors [][]float32, dim int, line func(*bufio.Writer, string) error) error {
	for i, v := range vectors {
		if len(v) != dim {
			return fmt.Errorf("npy: %s has %d numbers, not %d", labels[i], len(v), dim)
		}
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	vec, err := atomicfile.Create(filepath.Join(dir, npyVectors))
	if err != nil {
		return err
	}
	defer vec.Abort()
	lab, err := atomicfile.Create(filepath.Join(dir, labelsFile))
	if err != nil {
		return err
	}
	defer lab.Abort()
	man, err := atomicfile.Create(filepath.Join(dir, npyManifest))
	if err != nil {
		return err
	}
	defer man.Abort()

	pair := npyPair{Rows: len(vectors), Dim: dim, Labels: labelsFile}
	if pair.EmbeddingsSHA256, err = fill(vec, func(w *bufio.Writer) error {
		w.Write(npyHeader(len(vectors), dim))
		var b [4]byte
		for _, v := range vectors {
			for _, x := range v {
				binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
				w.Write(b[:])
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if pair.LabelsSHA256, err = fill(lab, func(w *bufio.Writer) error {
		for _, l := range labels {
			if err := line(w, l); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	rec := npyRecord{Format: npyFormat, Version: 1, npyPair: pair, Updated: time.Now().UTC()}
	old, err := readNPYRecord(dir)
	switch {
	case err == nil:
		// What is on disk now is one of these (or matches none): listed,
		// a kill before the new pair is whole leaves it readable.
		for _, p := range append([]npyPair{old.npyPair}, old.Earlier...) {
			if p != pair && len(rec.Earlier) < npyEarlier {
				rec.Earlier = append(rec.Earlier, p)
			}
		}
	case errors.Is(err, fs.ErrNotExist):
		// An older hybridembed's folder, with no _npy.json: its pair as it
		// is on disk is listed, for the same reason.
		if p, ok := unlinkedPair(dir, labelsFile); ok && p != pair {
			rec.Earlier = append(rec.Earlier, p)
		}
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if _, err := fill(man, func(w *bufio.Writer) error { _, err := w.Write(append(data, '\n')); return err }); err != nil {
		return err
	}
	// Every byte is written: nothing is replaced until all three are on
	// disk.
	for _, f := range []*atomicfile.File{man, lab, vec} {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	for _, f := range []*atomicfile.File{man, lab, vec} {
		if err := f.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// unlinkedPair is the pair of embeddings.npy and labelsFile in dir as they
// are, for a folder written before _npy.json linked them; false where
// either is missing or unreadable.
func unlinkedPair(dir, labelsFile string) (npyPair, bool) {
	vecPath, labPath := filepath.Join(dir, npyVectors), filepath.Join(dir, labelsFile)
	f, err := os.Open(vecPath)
	if err != nil {
		return npyPair{}, false
	}
	rows, dim, _, err := readNPYHeader(bufio.NewReader(f))
	f.Close()
	if err != nil {
		return npyPair{}, false
	}
	p := npyPair{Rows: rows, Dim: dim, Labels: labelsFile}
	if p.EmbeddingsSHA256, _, err = filehash.Hex(context.Background(), vecPath); err != nil {
		return npyPair{}, false
	}
	if p.LabelsSHA256, _, err = filehash.Hex(context.Background(), labPath); err != nil {
		return npyPair{}, false
	}
	return p, true
}

// fill writes f through a buffer and returns the sha256 of what it wrote.
func fill(f *atomicfile.File, write func(*bufio.Writer) error) (string, error) {
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if err := write(w); err != nil {
		return "", fmt.Errorf("writing %s: %w", f.Path(), err)
	}
	if err := w.Flush(); err != nil {
		return "", fmt.Errorf("writing %s: %w", f.Path(), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// npyHeader is NumPy format 1.0's header for float32 rows: magic (6),
// version (2), length (2), then the header dict and '\n', padded with
// spaces to a multiple of 64 bytes.
func npyHeader(rows, dim int) []byte {
	dict := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, dim)
	pad := (64 - (10+len(dict)+1)%64) % 64
	dict += strings.Repeat(" ", pad) + "\n"
	out := append([]byte("\x93NUMPY\x01\x00"), 0, 0)
	binary.LittleEndian.PutUint16(out[8:], uint16(len(dict)))
	return append(out, dict...)
}

var (
	npyDescr   = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape':\s*\(\s*(\d+)\s*,\s*(\d+)\s*,?\s*\)`)
)

// readNPYHeader reads a .npy file's header: a 2-D little-endian float32
// array in C order (what WriteNPY writes, and np.save of such an array),
// its shape, and where its data starts.
func readNPYHeader(r io.Reader) (rows, dim int, dataAt int64, err error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return 0, 0, 0, fmt.Errorf("not a .npy file: %w", err)
	}
	if !bytes.HasPrefix(pre[:], []byte("\x93NUMPY")) {
		return 0, 0, 0, errors.New("not a .npy file (no \\x93NUMPY magic)")
	}
	var n int
	dataAt = 10
	switch pre[6] {
	case 1:
		n = int(binary.LittleEndian.Uint16(pre[8:]))
	case 2, 3:
		var more [2]byte
		if _, err := io.ReadFull(r, more[:]); err != nil {
			return 0, 0, 0, fmt.Errorf("a .npy header cut short: %w", err)
		}
		n = int(binary.LittleEndian.Uint32(append(pre[8:10:10], more[:]...)))
		dataAt = 12
	default:
		return 0, 0, 0, fmt.Errorf(".npy format version %d.%d", pre[6], pre[7])
	}
	if n > 1<<16 {
		return 0, 0, 0, fmt.Errorf("a .npy header of %d bytes", n)
	}
	dict := make([]byte, n)
	if _, err := io.ReadFull(r, dict); err != nil {
		return 0, 0, 0, fmt.Errorf("a .npy header cut short: %w", err)
	}
	dataAt += int64(n)
	d, f, s := npyDescr.FindSubmatch(dict), npyFortran.FindSubmatch(dict), npyShape.FindSubmatch(dict)
	switch {
	case d == nil || f == nil || s == nil:
		return 0, 0, 0, fmt.Errorf("a .npy header without a 2-D shape: %q", bytes.TrimSpace(dict))
	case string(d[1]) != "<f4":
		return 0, 0, 0, fmt.Errorf("dtype %s, not little-endian float32 (<f4)", d[1])
	case string(f[1]) != "False":
		return 0, 0, 0, errors.New("fortran_order True, not C order")
	}
	rows, err1 := strconv.Atoi(string(s[1]))
	dim, err2 := strconv.Atoi(string(s[2]))
	if err1 != nil || err2 != nil {
		return 0, 0, 0, fmt.Errorf("a .npy shape out of range: %s", s[0])
	}
	return rows, dim, dataAt, nil
}

// readNPYRecord reads DIR/_npy.json.
func readNPYRecord(dir string) (*npyRecord, error) {
	data, err := os.ReadFile(filepath.Join(dir, npyManifest))
	if err != nil {
		return nil, err
	}
	var rec npyRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", npyManifest, err)
	}
	if rec.Format != npyFormat || rec.Version != 1 {
		return nil, fmt.Errorf("%s: format %q version %d, want %q version 1", npyManifest, rec.Format, rec.Version, npyFormat)
	}
	return &rec, nil
}

// npyState is which pair an NPY output's files are.
type npyState struct {
	pair npyPair
	// earlier: the pair an earlier write committed; the last write to the
	// folder did not finish.
	earlier bool
	// unlinked: there is no _npy.json (an older hybridembed wrote the
	// folder), so the files are only known to agree on their row count.
	unlinked bool
}

// matchNPY finds the pair the files of an NPY output are, by their sha256
// (sum gives it for a file of the folder, by name). A folder without
// _npy.json has its labels file found by name (paths.txt, else
// texts.jsonl) and its sums left empty.
func matchNPY(dir string, sum func(name string) (string, error)) (npyState, error) {
	rec, err := readNPYRecord(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, npyVectors)); err != nil {
			return npyState{}, fmt.Errorf("%s: no NPY output: %w", dir, err)
		}
		for _, name := range []string{"paths.txt", "texts.jsonl"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return npyState{pair: npyPair{Labels: name, Rows: -1}, unlinked: true}, nil
			}
		}
		return npyState{}, fmt.Errorf("%s: %w: no paths.txt or texts.jsonl beside %s", dir, ErrNPYMismatch, npyVectors)
	}
	if err != nil {
		return npyState{}, fmt.Errorf("%s: %w", dir, err)
	}
	vsum, err := sum(npyVectors) // "" when missing: no pair matches
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return npyState{}, err
	}
	sums := map[string]string{}
	for i, p := range append([]npyPair{rec.npyPair}, rec.Earlier...) {
		lsum, seen := sums[p.Labels]
		if !seen {
			if lsum, err = sum(p.Labels); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return npyState{}, err
			}
			sums[p.Labels] = lsum
		}
		if p.EmbeddingsSHA256 == vsum && p.LabelsSHA256 == lsum {
			return npyState{pair: p, earlier: i > 0}, nil
		}
	}
	return npyState{}, fmt.Errorf("%s: %w: they are not the %d rows %s records (a write to the folder was cut short): run the command that wrote it again",
		dir, ErrNPYMismatch, rec.Rows, npyManifest)
}

// NPY is an NPY output as [ReadNPY] read it.
type NPY struct {
	Labels     []string    // paths or texts, in row order
	LabelsFile string      // paths.txt or texts.jsonl
	Vectors    [][]float32 // one per label
	Dim        int
	// Earlier says the folder holds the pair an earlier write committed:
	// the last write to it did not finish, and left it as it was.
	Earlier bool
	// Unlinked says the folder has no _npy.json (an older hybridembed
	// wrote it): the files agree on their row count, and nothing tells
	// whether they are one write's.
	Unlinked bool
}

// ReadNPY reads the NPY output in dir, checking that embeddings.npy and the
// labels file are one write's pair: an error matching [ErrNPYMismatch]
// when they are not.
func ReadNPY(dir string) (*NPY, error) {
	files := map[string][]byte{}
	read := func(name string) ([]byte, error) {
		if b, ok := files[name]; ok {
			return b, nil
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			files[name] = b
		}
		return b, err
	}
	st, err := matchNPY(dir, func(name string) (string, error) {
		b, err := read(name)
		if err != nil {
			return "", err
		}
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:]), nil
	})
	if err != nil {
		return nil, err
	}
	vec, err := read(npyVectors)
	if err != nil {
		return nil, err
	}
	lab, err := read(st.pair.Labels)
	if err != nil {
		return nil, err
	}
	rows, dim, at, err := readNPYHeader(bytes.NewReader(vec))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, npyVectors), err)
	}
	if int64(len(vec))-at != int64(rows)*int64(dim)*4 {
		return nil, fmt.Errorf("%s: %d bytes of data for shape (%d, %d)", filepath.Join(dir, npyVectors), int64(len(vec))-at, rows, dim)
	}
	labels, err := parseLabels(st.pair.Labels, lab)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, st.pair.Labels), err)
	}
	if err := st.agree(dir, rows, dim, len(labels)); err != nil {
		return nil, err
	}
	out := &NPY{Labels: labels, LabelsFile: st.pair.Labels, Dim: dim, Earlier: st.earlier, Unlinked: st.unlinked}
	data := vec[at:]
	out.Vectors = make([][]float32, rows)
	for i := range out.Vectors {
		v := make([]float32, dim)
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*(i*dim+j):]))
		}
		out.Vectors[i] = v
	}
	return out, nil
}

// agree checks the files' shape against each other and the record.
func (st npyState) agree(dir string, rows, dim, labels int) error {
	switch {
	case rows != labels:
		return fmt.Errorf("%s: %w: %s has %d rows, %s %d", dir, ErrNPYMismatch, npyVectors, rows, st.pair.Labels, labels)
	case !st.unlinked && (rows != st.pair.Rows || dim != st.pair.Dim):
		return fmt.Errorf("%s: %w: %s is (%d, %d), %s records (%d, %d)", dir, ErrNPYMismatch, npyVectors, rows, dim, npyManifest, st.pair.Rows, st.pair.Dim)
	}
	return nil
}

// parseLabels splits a labels file into its lines: paths as they are,
// texts as the JSON strings they are written as.
func parseLabels(name string, data []byte) ([]string, error) {
	var out []string
	for l := range strings.Lines(string(data)) {
		l = strings.TrimSuffix(l, "\n")
		if name != "texts.jsonl" {
			out = append(out, l)
			continue
		}
		var t string
		if err := json.Unmarshal([]byte(l), &t); err != nil {
			return nil, fmt.Errorf("line %d: %w", len(out)+1, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// countLines counts the labels in a labels file without holding it.
func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	buf := make([]byte, 1<<20)
	for {
		k, err := f.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// isNPY reports whether dir holds an NPY output.
func isNPY(dir string) bool {
	for _, name := range []string{npyVectors, npyManifest} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

// verifyNPY is Verify of an NPY output: the pair is one write's, and
// agrees with itself. It streams the files rather than holding them.
func verifyNPY(dir string) (*Report, error) {
	rep := &Report{Format: "npy", Shards: 1}
	problem := func(err error) { rep.Problems = append(rep.Problems, err.Error()) }
	st, err := matchNPY(dir, func(name string) (string, error) {
		sum, _, err := filehash.Hex(context.Background(), filepath.Join(dir, name))
		return sum, err
	})
	if err != nil {
		problem(err)
		return rep, nil
	}
	rep.Labels = st.pair.Labels
	f, err := os.Open(filepath.Join(dir, npyVectors))
	if err != nil {
		problem(err)
		return rep, nil
	}
	defer f.Close()
	rows, dim, at, err := readNPYHeader(bufio.NewReader(f))
	if err != nil {
		problem(fmt.Errorf("%s: %w", npyVectors, err))
		return rep, nil
	}
	if fi, err := f.Stat(); err == nil && fi.Size()-at != int64(rows)*int64(dim)*4 {
		problem(fmt.Errorf("%s: %d bytes of data for shape (%d, %d)", npyVectors, fi.Size()-at, rows, dim))
		return rep, nil
	}
	labels, err := countLines(filepath.Join(dir, st.pair.Labels))
	if err != nil {
		problem(err)
		return rep, nil
	}
	rep.Rows, rep.Dim = rows, dim
	if err := st.agree(dir, rows, dim, labels); err != nil {
		problem(err)
		return rep, nil
	}
	rep.Complete = 1
	if left := npyLeftovers(dir); len(left) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("temporary files of writes that were killed, safe to delete: %s", named(left)))
	}
	if st.earlier {
		rep.Notes = append(rep.Notes, "the last write to it did not finish: it holds, whole, what the write before that made")
	}
	if st.unlinked {
		rep.Notes = append(rep.Notes, "written by an older hybridembed (no "+npyManifest+"): the files agree on their row count, and nothing tells whether they are one run's; write it again to be sure")
	}
	return rep, nil
}

// npyLeftovers are the temporary files (atomicfile's dot names) that
// killed writes of an NPY output left.
func npyLeftovers(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		for _, name := range []string{npyVectors, npyManifest, "paths.txt", "texts.jsonl"} {
			if strings.HasPrefix(e.Name(), "."+name) {
				out = append(out, e.Name())
			}
		}
	}
	return out
}
